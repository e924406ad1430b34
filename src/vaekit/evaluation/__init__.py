"""Test-set metrics of a model on a tensor of images: negative ELBO, IW-NLL, active units, codebook usage."""
