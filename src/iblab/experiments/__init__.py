"""The paper reproductions, each a short module with `reproduce(out, quick)`."""

REPRODUCTIONS = {
    "lai2026": "iblab.experiments.lai2026",
    "frei2023": "iblab.experiments.frei2023",
}
