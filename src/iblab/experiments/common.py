"""What every reproduction shares besides its claims (those are `iblab.claims`): figures."""

from __future__ import annotations

from pathlib import Path


def save_figure(fig, out: Path, name: str) -> list[Path]:
    """Save fig as name.png and name.pdf under out; close it."""
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{name}.png", out / f"{name}.pdf"]
    for p in paths:
        fig.savefig(p, dpi=150, bbox_inches="tight")
    plt.close(fig)
    return paths
