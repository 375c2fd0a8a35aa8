"""Where a spark-submit driver imports pyspark from.

spark-submit puts its own copies of pyspark and py4j first on the driver's ``sys.path``, as
zip files (``$SPARK_HOME/python/lib/pyspark.zip``). Python compiles a module imported from a
zip anew in every process (zipimport writes no bytecode cache), so the imports of every job
cost about a second more than from the same files installed by pip. Where pip installed the
very release the zip holds (pyspark's own package, as sparknn's install gives), the driver
can import that instead, at no risk: :func:`prefer_installed_pyspark` moves the zips to the
end of ``sys.path``. ``import sparknn`` does it, before anything imports pyspark.
"""

import re
import sys
import zipfile
from pathlib import Path

# spark-submit's zips: pyspark.zip and py4j-<version>-src.zip in $SPARK_HOME/python/lib
_SPARK_ZIP = re.compile(r"(^|[/\\])python[/\\]lib[/\\](pyspark|py4j-[^/\\]+-src)\.zip$")


def prefer_installed_pyspark(path: list[str] | None = None, loaded=None) -> bool:
    """Move spark-submit's zips of pyspark and py4j to the end of ``path`` (default
    ``sys.path``) when a directory on it holds the same pyspark release (its ``version.py``
    reads the same) and py4j, unless pyspark is already imported (``loaded``, default
    ``sys.modules``). Returns whether it moved them."""
    path = sys.path if path is None else path
    loaded = sys.modules if loaded is None else loaded
    if "pyspark" in loaded or "py4j" in loaded:
        return False
    zips = [entry for entry in path if _SPARK_ZIP.search(entry)]
    pyspark_zip = next((entry for entry in zips if entry.endswith("pyspark.zip")), None)
    if pyspark_zip is None:
        return False
    try:
        with zipfile.ZipFile(pyspark_zip) as archive:
            zipped_version = archive.read("pyspark/version.py")
    except (OSError, KeyError, zipfile.BadZipFile):
        return False
    folders = [Path(entry or ".") for entry in path if entry not in zips]
    installed = next((f for f in folders if (f / "pyspark" / "version.py").is_file()), None)
    if installed is None or (installed / "pyspark" / "version.py").read_bytes() != zipped_version:
        return False
    if not any((f / "py4j" / "__init__.py").is_file() for f in folders):
        return False
    path[:] = [entry for entry in path if entry not in zips] + zips
    return True
