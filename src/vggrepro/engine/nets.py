"""Trained nets on disk: a saved net is its ``VGGSpec`` and its weights, and a digest of the
weights ties it to the results file of the run that trained it.

(A *checkpoint*, in ``vggrepro.engine.checkpoint``, is something else: the whole state of a
run after an epoch, for resuming it.)
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict
from pathlib import Path

import torch

from vggrepro.arch.configs import VGGSpec
from vggrepro.arch.models import VGG, build
from vggrepro.files import atomic_write


def save_model(model: VGG, path: Path, dtype: torch.dtype = torch.float32) -> Path:
    """Save a trained net (its spec and weights, cast to ``dtype``) for reuse."""
    state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in model.state_dict().items()}
    with atomic_write(path) as f:
        torch.save({"spec": asdict(model.spec), "state_dict": state}, f)
    return Path(path)


def load_model(path: Path, device: str | torch.device = "cpu") -> VGG:
    """Rebuild a net saved by ``save_model`` (weights in fp32); a file that is not one is a
    ValueError naming it and what went wrong (a missing file stays an OSError)."""
    try:
        saved = torch.load(path, map_location=device, weights_only=True)
        model = build(VGGSpec(**{k: v for k, v in saved["spec"].items() if k != "stages"}))
        model.load_state_dict({k: v.float() for k, v in saved["state_dict"].items()})
    except OSError:
        raise
    except Exception as e:  # unpickling, a truncated zip, no spec, weights of another shape...
        raise ValueError(
            f"{path} is not a net saved by --save-model ({type(e).__name__})"
        ) from None
    return model.to(device)


def weights_digest(model: VGG) -> str:
    """sha256 over a net's parameters and buffers in fp32, in state-dict order: the results file
    records it, so that a saved net can be matched to the run that trained it."""
    h = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        h.update(name.encode())
        h.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()
