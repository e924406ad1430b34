"""The settings of the verbs that look at a finished run, each declared once with its help and its domain (the
bounds keep a grid, a batch or a strip from outgrowing memory). ``vaekit.cli`` makes their flags from these and
checks what was given before any work."""

from __future__ import annotations

from dataclasses import dataclass

from .fields import setting

# the grammar of the explore verbs' selectors, declared once: the flags check it, the verbs parse with it
IMAGE = r"\s*(?:(?P<label>\d{1,9})|index:(?P<index>\d{1,12}))\s*"
IMAGE_FORM = "a label (e.g. 7) or index:N"
# an ink quantile lies in (0, 1): a decimal with a non-zero digit after the point; a name is matched by a regular
# expression (searched, case-insensitive), a subcategory exactly (emoji: "face-smiling")
SELECTOR = (
    r"\s*(?:label\s*=\s*(?P<label>\d{1,9})|ink\s*(?P<op>[<>])\s*(?P<q>0?\.(?=\d*[1-9])\d{1,12})"
    r"|(?P<field>name|subcategory)\s*~\s*(?P<rx>\S.{0,199})|subcategory\s*=\s*(?P<sub>[\w&-]{1,100}))\s*"
)
SELECTOR_FORM = "label=K, ink>Q or ink<Q with Q in (0, 1), name~REGEX, subcategory~REGEX or subcategory=NAME"


@dataclass
class SweepSettings:
    betas: tuple[float, ...] = setting((), "comma list of KL weights, e.g. 0.5,1,2,4", cast=float, length=(0, 256),
                                       ge=0, le=1e4)  # fmt: skip
    seeds: tuple[int, ...] = setting((0,), "comma list of seeds", length=(1, 256), ge=0, le=2**31 - 1)


@dataclass
class FetchSettings:
    clips: int | None = setting(None, "moving-mnist: training clips to generate (the test split: a tenth as many; "
                                "default 10,000)", cast=int, ge=10, le=10**6)  # fmt: skip


@dataclass
class EvaluateSettings:
    iw_samples: int = setting(0, "K for the importance-weighted NLL, e.g. 1000 (0 = off); batched, any K fits",
                              ge=0, le=10**6)  # fmt: skip
    samples: int = setting(0, "N: add the fid of N samples against the test set (and its floor)", ge=0, le=10**5)
    groups_used: int | None = setting(None, "mgvq: decode from the first k groups only (the rest zeros)", cast=int,
                                      ge=1, le=64)  # fmt: skip


@dataclass
class SampleSettings:
    n: int = setting(64, "number of samples", ge=1, le=10000)
    seed: int = setting(0, "seeds the draws", ge=0, le=2**63 - 1)
    temperature: float = setting(1.0, "tokenizers: divide the prior's logits by T", gt=0, le=1e3)
    top_k: int = setting(0, "tokenizers: draw from the K likeliest codes (0 = all)", ge=0, le=2**20)
    label: int | None = setting(None, "tokenizers with a --conditional prior: the class to sample", cast=int,
                                ge=0, le=10**6)  # fmt: skip


@dataclass
class ManifoldSettings:
    n: int = setting(20, "grid size per axis", ge=1, le=100)


@dataclass
class InterpolateSettings:
    src: str | None = setting(None, IMAGE_FORM, flag="from", pattern=IMAGE, form=IMAGE_FORM, required=True)
    dst: str | None = setting(None, IMAGE_FORM, flag="to", pattern=IMAGE, form=IMAGE_FORM, required=True)
    steps: int = setting(10, "images in the strip, both ends included", ge=2, le=1000)
    mode: str = setting("linear", "linear, or slerp (along the great circle)", choices=("linear", "slerp"))


@dataclass
class TraverseSettings:
    index: int = setting(0, "test image whose posterior mean is the centre", ge=0, le=10**9)
    steps: int = setting(9, "values per latent dimension over [-3, 3]", ge=2, le=101)


@dataclass
class AttributeSettings:
    positive: str | None = setting(None, "the images whose mean latent the vector points to: label=K, ink>Q or ink<Q "
                                   "(Q a quantile of stroke mass), name~REGEX or subcategory=NAME (emoji)",
                                   pattern=SELECTOR, form=SELECTOR_FORM, required=True)  # fmt: skip
    negative: str | None = setting(None, "the images it points away from (the same forms)",
                                   pattern=SELECTOR, form=SELECTOR_FORM, required=True)  # fmt: skip
    split: str = setting("test", "the split the two selections (and the probe) come from", choices=("test", "train"))
    apply_to: str = setting("random", "the test images the vector is added to: random ones, or those --negative "
                            "selects", choices=("random", "negative"))  # fmt: skip
    strengths: tuple[float, ...] = setting((-2.0, -1.0, 0.0, 1.0, 2.0), "comma list of multiples of the vector",
                                           length=(1, 64), ge=-1e3, le=1e3)  # fmt: skip


@dataclass
class ReconSettings:
    n: int = setting(16, "test images to reconstruct", ge=1, le=1000)
    groups_used: int | None = setting(None, "mgvq: decode from the first k groups only (the rest zeros)", cast=int,
                                      ge=1, le=64)  # fmt: skip


@dataclass
class TokenizeSettings:
    adaptive: bool = setting(False, "titok with --nested-dropout: a prefix of each image's tokens, the shortest "
                             "that meets --target-psnr, --max-loss-db or both, or the fewest tokens in all that meet "
                             "--mean-loss-db; writes an .npz of tokens and lengths")  # fmt: skip
    target_psnr: float | None = setting(None, "--adaptive: the PSNR (dB) each image's prefix must reach",
                                        cast=float, ge=0, le=200)  # fmt: skip
    max_loss_db: float | None = setting(None, "--adaptive: at most this many dB below the image's full length",
                                        cast=float, ge=0, le=200)  # fmt: skip
    mean_loss_db: float | None = setting(None, "--adaptive: the mean PSNR at most this many dB below the mean "
                                         "at full length, with the fewest tokens in all", cast=float, ge=0,
                                         le=200)  # fmt: skip


@dataclass
class DetokenizeSettings:
    n: int = setting(64, "decode at most this many token grids", ge=1, le=10000)
    groups_used: int | None = setting(None, "mgvq: decode from the first k groups only (the rest zeros)", cast=int,
                                      ge=1, le=64)  # fmt: skip


@dataclass
class BenchSettings:
    epochs: int = setting(3, "timed epochs per variant (after one warm-up epoch)", ge=1, le=1000)
    to_loss: float | None = setting(None, "time to quality instead: seconds until each variant's test loss first "
                                    "reaches L nats (e.g. 110)", cast=float, gt=0, le=1e6)  # fmt: skip
    eval_every: int = setting(100, "--to-loss: evaluate the test loss every N steps (and at every epoch's end)",
                              ge=1, le=10**6)  # fmt: skip
    max_epochs: int = setting(20, "--to-loss: give up on a variant after this many epochs", ge=1, le=10**4)


@dataclass
class TinySettings:
    epochs: int | None = setting(None, "training epochs (default from the recipe)", cast=int, ge=1, le=10**4)


@dataclass
class StudySettings:
    seeds: tuple[int, ...] | None = setting(None, "comma list of seeds (default 0,1,2)", cast=tuple, length=(1, 64),
                                            ge=0, le=2**31 - 1)  # fmt: skip
    epochs: int | None = setting(None, "epochs per model (default 40)", cast=int, ge=1, le=10**5)
    iw_samples: int | None = setting(None, "K of the IW-NLL (default 1000)", cast=int, ge=1, le=10**6)
    iw_images: int | None = setting(None, "IW-NLL on the first N test images (default 2000; 0 = all)", cast=int,
                                    ge=0, le=10**7)  # fmt: skip


# verb -> the settings whose flags it takes
VERB_SETTINGS: dict[str, type] = {
    "sweep": SweepSettings,
    "evaluate": EvaluateSettings,
    "sample": SampleSettings,
    "manifold": ManifoldSettings,
    "interpolate": InterpolateSettings,
    "traverse": TraverseSettings,
    "attribute": AttributeSettings,
    "recon": ReconSettings,
    "tokenize": TokenizeSettings,
    "detokenize": DetokenizeSettings,
    "bench": BenchSettings,
    "tiny": TinySettings,
    "study": StudySettings,
}
