"""Random-number ops carry no gradient (their outputs do not depend smoothly on keys)."""
from .transform import nondifferentiable

nondifferentiable("random_split", "random_bits", "random_uniform", "random_normal", "random_bernoulli")
