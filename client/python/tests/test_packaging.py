"""`pip install ./client/python` needs nothing but the standard library:
the in-tree build backend (_build/keyward_build.py) makes a pure wheel
holding the whole package and its metadata."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import unittest
import zipfile

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(HERE, "_build"))

import keyward_build  # noqa: E402


class PackagingTest(unittest.TestCase):
    def test_wheel_holds_the_package_and_installs(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            self.assertEqual([], keyward_build.get_requires_for_build_wheel())
            name = keyward_build.build_wheel(d)
            self.assertEqual("keyward-0.1.0-py3-none-any.whl", name)
            with zipfile.ZipFile(os.path.join(d, name)) as z:
                names = set(z.namelist())
                for mod in ("__init__", "client", "aio", "errors", "wire", "requests_adapter"):
                    self.assertIn("keyward/%s.py" % mod, names)
                self.assertIn("keyward/py.typed", names)
                self.assertFalse([n for n in names if n.startswith("tests/") or "__pycache__" in n])
                meta = z.read("keyward-0.1.0.dist-info/METADATA").decode()
                self.assertIn("Requires-Python: >=3.9", meta)
                self.assertNotIn("\nRequires-Dist: requests>=2.25\n", meta, "requests is an extra, not a dependency")
                record = z.read("keyward-0.1.0.dist-info/RECORD").decode()
                self.assertIn("keyward/client.py,sha256=", record)
                z.extractall(os.path.join(d, "site"))
            # The unpacked wheel imports on its own, from an empty directory.
            p = subprocess.run([sys.executable, "-c", "import keyward, keyward.aio; print(keyward.__version__)"],
                               cwd=d, env=dict(os.environ, PYTHONPATH=os.path.join(d, "site")), capture_output=True, text=True)
            self.assertEqual(0, p.returncode, p.stderr)
            self.assertEqual("0.1.0", p.stdout.strip())

    def test_sdist(self) -> None:
        import tarfile

        with tempfile.TemporaryDirectory() as d:
            name = keyward_build.build_sdist(d)
            with tarfile.open(os.path.join(d, name)) as t:
                names = t.getnames()
            self.assertIn("keyward-0.1.0/pyproject.toml", names)
            self.assertIn("keyward-0.1.0/_build/keyward_build.py", names)
            self.assertIn("keyward-0.1.0/keyward/client.py", names)


if __name__ == "__main__":
    unittest.main()
