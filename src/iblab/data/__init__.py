"""Data: a validated Config in, the Problem (Gram blocks, targets, second layer) out.

Gaussian and mixture data can be sampled directly as Gram blocks at a cost independent of
the input dimension; everything else is generated or read as arrays and reduced once.
"""

from iblab.data._dataset import Dataset
from iblab.data._digits import digits_dataset
from iblab.data._files import file_dataset, read_arrays
from iblab.data._gaussian import gaussian_dataset, mixture_dataset, orthogonal_dataset
from iblab.data._gram_sampling import gaussian_gram, init_gram, mixture_gram
from iblab.data._init import second_layer
from iblab.data._make import make_problem
from iblab.data._orthogonality import near_orthogonality
from iblab.data._spectrum import block_spectrum, eigenvalues, power_sum
from iblab.data._wishart import wishart_identity

__all__ = [
    "Dataset",
    "block_spectrum",
    "digits_dataset",
    "eigenvalues",
    "file_dataset",
    "gaussian_dataset",
    "gaussian_gram",
    "init_gram",
    "make_problem",
    "mixture_dataset",
    "mixture_gram",
    "near_orthogonality",
    "orthogonal_dataset",
    "power_sum",
    "read_arrays",
    "second_layer",
    "wishart_identity",
]
