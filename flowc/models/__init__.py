"""flowc.models: seed models as init/apply pairs over parameter pytrees (NCHW).

    m = fc.models.alexnet(num_classes=10, width=0.25, input_size=67, in_channels=1)
    params = m.init(fc.random.key(0))
    logits = fc.jit(m.apply)(params, images)

``vgg16``/``vgg19`` add ``features(params, x, names)``; ``weights`` loads ``.npz``
files (naming and conversion recipes in its docstring); ``style`` holds the
neural-style losses.
"""
from . import style, weights
from ._layers import Model
from .alexnet import alexnet
from .vgg import vgg, vgg16, vgg19

__all__ = ["Model", "alexnet", "vgg", "vgg16", "vgg19", "weights", "style"]
