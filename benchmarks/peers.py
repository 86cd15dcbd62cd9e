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


# ultralytics and what its package __init__ imports (opencv, PyYAML, Pillow,
# psutil) live in a folder of their own: ultralytics reads torchvision's
# installed version at import, so that folder also holds a torchvision wheel,
# for its metadata only. It must not shadow anything else (torchvision's
# compiled ops do not load into every torch), so it is on sys.path only while
# an ultralytics module is imported.
ULTRALYTICS_DIR = pathlib.Path(
    os.environ.get("LOSSEXT_ULTRALYTICS_DIR") or ROOT / "build" / "peers-ultralytics"
)


def ultralytics_tal():
    """ultralytics.utils.tal (TaskAlignedAssigner), or None when not installed."""
    return _ultralytics_module("ultralytics.utils.tal")


def ultralytics_loss():
    """ultralytics.utils.loss (v8DetectionLoss), or None when not installed."""
    return _ultralytics_module("ultralytics.utils.loss")


def _ultralytics_module(name):
    if name in sys.modules:
        return sys.modules[name]
    if not ULTRALYTICS_DIR.is_dir():
        return None
    # ultralytics writes a settings file at import: keep it out of the user's home.
    os.environ.setdefault("YOLO_CONFIG_DIR", str(ULTRALYTICS_DIR / "config"))
    os.environ.setdefault("YOLO_OFFLINE", "1")
    sys.path.insert(0, str(ULTRALYTICS_DIR))
    try:
        return importlib.import_module(name)
    except Exception:  # noqa: BLE001 - a broken or partial install: the comparison skips
        return None
    finally:
        sys.path.remove(str(ULTRALYTICS_DIR))
