"""Peer libraries whose loss code lossext is measured and tested against.

They live in their own folder, build/peers (LOSSEXT_PEERS_DIR overrides it),
which tools/bootstrap.sh fills with `pip install --no-deps --target` and which
only the tests and benchmarks put on sys.path, through this module: the
user's environment never sees them, so nothing there is broken by a peer
installed without its model-zoo dependencies.

segmentation_models_pytorch's package __init__ imports its model zoo (timm,
torchvision, huggingface_hub), none of which exists on a CPU-only machine with
torch 2.13; its `losses` subpackage needs only torch. When the package is
installed (`pip install --no-deps segmentation-models-pytorch`) but its
__init__ cannot run, the losses subpackage is loaded on its own, unchanged,
under a private module name.
"""

import importlib.util
import os
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
PEERS_DIR = pathlib.Path(os.environ.get("LOSSEXT_PEERS_DIR") or ROOT / "build" / "peers")
_SMP_ALIAS = "_lossext_peer_smp_losses"


def use_peers_dir() -> bool:
    """Puts the peers' folder first on sys.path (once), so that the pinned
    peers win over any other copy; False when the folder does not exist."""
    if not PEERS_DIR.is_dir():
        return False
    if str(PEERS_DIR) not in sys.path:
        sys.path.insert(0, str(PEERS_DIR))
    return True


use_peers_dir()


def smp_losses():
    """segmentation_models_pytorch.losses, or None when it is not installed."""
    try:
        import segmentation_models_pytorch.losses as losses

        return losses
    except Exception:  # noqa: BLE001 - any failure of the package __init__: try the subpackage alone
        pass
    if _SMP_ALIAS in sys.modules:
        return sys.modules[_SMP_ALIAS]
    try:
        spec = importlib.util.find_spec("segmentation_models_pytorch")
    except Exception:  # noqa: BLE001
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = pathlib.Path(list(spec.submodule_search_locations)[0]) / "losses"
    init = folder / "__init__.py"
    if not init.exists():
        return None
    sub = importlib.util.spec_from_file_location(_SMP_ALIAS, init, submodule_search_locations=[str(folder)])
    module = importlib.util.module_from_spec(sub)
    sys.modules[_SMP_ALIAS] = module
    try:
        sub.loader.exec_module(module)
    except Exception:  # noqa: BLE001
        del sys.modules[_SMP_ALIAS]
        return None
    return module


def ultralytics_loss():
    """ultralytics.utils.loss, or None when it is not installed.

    ultralytics reads torchvision's installed version at import (only to
    compare it with torch's); a CPU-only machine with torch 2.13 has no
    torchvision wheel, and the loss code never imports it, so while the
    package imports, a missing torchvision reads as version 0.0.0. Its
    settings file goes to build/peers, not to the user's home."""
    import importlib.metadata as metadata

    os.environ.setdefault("YOLO_CONFIG_DIR", str(PEERS_DIR / ".ultralytics-settings"))
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_VERBOSE", "False")
    version = metadata.version

    def version_or_zero(name):
        try:
            return version(name)
        except metadata.PackageNotFoundError:
            if name == "torchvision":
                return "0.0.0"
            raise

    metadata.version = version_or_zero
    try:
        import ultralytics.utils.loss as loss

        return loss
    except Exception:  # noqa: BLE001 - not installed, or its imports fail here
        return None
    finally:
        metadata.version = version
