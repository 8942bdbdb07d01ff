"""oktalab: the Okta + Gloo identity guides as parameterized, verified notebooks.

The public names are re-exported here (and pinned by a test) so that notebooks and users
import from ``oktalab`` alone; modules stay free to move behind this surface.
"""

__version__ = "0.1.0"

from .errors import (
    APIError,
    ConfigurationError,
    KubeAPIError,
    NotAcceptedError,
    OktaAPIError,
    OktalabError,
    ParameterError,
    RateLimited,
    SandboxError,
    StageFailed,
    Timeout,
    VerificationError,
)
from .params import ParameterSet, load_parameters
from .results import Row, StageResult, style, to_frame
from .settings import Environment, Secret
from .stages import run_stage

__all__ = [
    "APIError",
    "ConfigurationError",
    "Environment",
    "KubeAPIError",
    "NotAcceptedError",
    "OktaAPIError",
    "OktalabError",
    "ParameterError",
    "ParameterSet",
    "RateLimited",
    "Row",
    "SandboxError",
    "Secret",
    "StageFailed",
    "StageResult",
    "Timeout",
    "VerificationError",
    "__version__",
    "load_parameters",
    "run_stage",
    "style",
    "to_frame",
]
