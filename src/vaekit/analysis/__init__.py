"""Looking at finished runs: evaluation, latent tools, the explore verbs, the HTML report and the browser explorer."""
