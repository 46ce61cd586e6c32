"""A PEP 517 build backend for keyward with no dependency at all.

keyward is one pure-Python package with no dependency, so building it needs
nothing but the standard library: ``pip install ./client/python`` then
works offline, on a machine with no setuptools or wheel and no package
index. It builds a pure wheel (PEP 427), an sdist, and an editable wheel
(PEP 660, a .pth file pointing at this directory).
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import tarfile
import zipfile
from typing import Dict, List, Optional

NAME = "keyward"
HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(HERE, NAME)


def _version() -> str:
    with open(os.path.join(PACKAGE, "__init__.py")) as f:
        for line in f:
            if line.startswith("__version__"):
                return line.split("=", 1)[1].strip().strip("\"'")
    raise RuntimeError("keyward/__init__.py has no __version__")


def _metadata() -> str:
    with open(os.path.join(HERE, "README.md")) as f:
        readme = f.read()
    return (
        "Metadata-Version: 2.1\n"
        "Name: %s\n"
        "Version: %s\n"
        "Summary: Client for the keyward agent: trading bots sign exchange requests without ever holding an API secret\n"
        "Requires-Python: >=3.9\n"
        "Provides-Extra: requests\n"
        "Requires-Dist: requests>=2.25; extra == \"requests\"\n"
        "Description-Content-Type: text/markdown\n"
        "\n%s" % (NAME, _version(), readme)
    )


def _dist_info() -> str:
    return "%s-%s.dist-info" % (NAME, _version())


def _package_files() -> List[str]:
    out = []
    for root, dirs, files in os.walk(PACKAGE):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for f in sorted(files):
            if f.endswith((".py", ".typed")):
                out.append(os.path.relpath(os.path.join(root, f), HERE))
    return sorted(out)


def _record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return "%s,sha256=%s,%d" % (path, digest, len(data))


def _write_wheel(wheel_directory: str, files: Dict[str, bytes], tag: str = "py3-none-any") -> str:
    name = "%s-%s-%s.whl" % (NAME, _version(), tag)
    di = _dist_info()
    files = dict(files)
    files[di + "/METADATA"] = _metadata().encode()
    files[di + "/WHEEL"] = ("Wheel-Version: 1.0\nGenerator: keyward_build\nRoot-Is-Purelib: true\nTag: %s\n" % tag).encode()
    record = [_record_line(p, d) for p, d in files.items()] + [di + "/RECORD,,"]
    files[di + "/RECORD"] = ("\n".join(record) + "\n").encode()
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w", zipfile.ZIP_DEFLATED) as z:
        for path, data in files.items():
            z.writestr(zipfile.ZipInfo(path, date_time=(2020, 1, 1, 0, 0, 0)), data)
    return name


def get_requires_for_build_wheel(config_settings: Optional[dict] = None) -> List[str]:
    return []


def get_requires_for_build_sdist(config_settings: Optional[dict] = None) -> List[str]:
    return []


def get_requires_for_build_editable(config_settings: Optional[dict] = None) -> List[str]:
    return []


def prepare_metadata_for_build_wheel(metadata_directory: str, config_settings: Optional[dict] = None) -> str:
    di = os.path.join(metadata_directory, _dist_info())
    os.makedirs(di, exist_ok=True)
    with open(os.path.join(di, "METADATA"), "w") as f:
        f.write(_metadata())
    return _dist_info()


prepare_metadata_for_build_editable = prepare_metadata_for_build_wheel


def build_wheel(wheel_directory: str, config_settings: Optional[dict] = None, metadata_directory: Optional[str] = None) -> str:
    files = {}
    for rel in _package_files():
        with open(os.path.join(HERE, rel), "rb") as f:
            files[rel.replace(os.sep, "/")] = f.read()
    return _write_wheel(wheel_directory, files)


def build_editable(wheel_directory: str, config_settings: Optional[dict] = None, metadata_directory: Optional[str] = None) -> str:
    return _write_wheel(wheel_directory, {"_keyward_editable.pth": (HERE + "\n").encode()})


def build_sdist(sdist_directory: str, config_settings: Optional[dict] = None) -> str:
    base = "%s-%s" % (NAME, _version())
    name = base + ".tar.gz"
    with tarfile.open(os.path.join(sdist_directory, name), "w:gz", format=tarfile.PAX_FORMAT) as t:
        for rel in ["pyproject.toml", "README.md", "_build/keyward_build.py"] + _package_files():
            t.add(os.path.join(HERE, rel), arcname=base + "/" + rel)
        info = tarfile.TarInfo(base + "/PKG-INFO")
        data = _metadata().encode()
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    return name
