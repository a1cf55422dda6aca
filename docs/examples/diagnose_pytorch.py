"""Diagnose a network trained in PyTorch: margins, KKT residual, SVM alignment, stable rank.

Run: python docs/examples/diagnose_pytorch.py   (needs torch; IBLAB_EXAMPLE_QUICK=1 for a
seconds-long version)
"""

import os

import torch

import iblab

quick = os.environ.get("IBLAB_EXAMPLE_QUICK") == "1"
n, d, m, steps = (20, 200, 16, 300) if quick else (50, 2000, 64, 3000)

torch.manual_seed(0)
X = torch.randn(n, d, dtype=torch.float64)
y = torch.sign(X[:, 0])
net = torch.nn.Sequential(
    torch.nn.Linear(d, m, bias=False, dtype=torch.float64),
    torch.nn.LeakyReLU(0.1),
    torch.nn.Linear(m, 1, bias=False, dtype=torch.float64),
)
net[2].weight.requires_grad_(False)  # the second layer fixed, as in Frei et al.
opt = torch.optim.SGD(net[0].parameters(), lr=0.05)
for _ in range(steps):
    opt.zero_grad()
    torch.nn.functional.softplus(-y * net(X).squeeze(1)).mean().backward()
    opt.step()

# PyTorch's shapes (W (m, d), a as (1, m)) and tensors are taken as they are.
dg = iblab.diagnose(X, y, net[0].weight, net[2].weight, activation="leaky_relu", slope=0.1)
print(f"stable rank {dg.stable_rank:.3f} (Frei et al.: at most 2 in the limit)")
print(f"normalised margin {dg.normalized_margin:.4f}, KKT residual {dg.kkt_residual:.3f}")
print(f"cosine to the max-margin linear predictor {dg.svm_cosine:.4f}")
print(dg.summary())
