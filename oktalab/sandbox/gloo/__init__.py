"""The Gloo side of the embedded sandbox: CRDs, seed state, status controllers and the gateway."""

from .controllers import GlooControllers
from .gateway import create_gateway_app
from .seed import seed_cluster

__all__ = ["GlooControllers", "create_gateway_app", "seed_cluster"]
