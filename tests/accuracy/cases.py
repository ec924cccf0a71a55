"""The accuracy cases: real applications with their own tests, in environments of real packages.

Each application is the source its wheel on PyPI ships, tests included, unpacked into a folder
(it is not installed in the environment). Every package of an environment is pinned, the
dependencies included, so a run measures the same thing wherever it runs.
"""

from __future__ import annotations

from .measure import Case

#: requests (jsonschema imports it when it is there) and packages the application never imports
_UNUSED_SMALL = ("requests==2.34.2", "urllib3==2.8.0", "certifi==2026.10.19.post1", "charset-normalizer==3.5.3",
                 "tqdm==4.70.1", "tabulate==0.10.0", "pyyaml==6.0.4", "click==8.5.1")

SMALL = Case(
    name="small",
    app="jsonschema==4.26.0",
    about="jsonschema 4.26.0 (its tests, without the JSON-Schema-Test-Suite checkout they also read)",
    env=(
        "pip==26.2.1",
        # jsonschema's dependencies
        "attrs==26.1.0", "jsonschema-specifications==2025.9.1", "referencing==0.37.0", "rpds-py==2026.9.1",
        "typing-extensions==4.16.0",
        # its format checkers, imported when available (the extra 'format')
        "idna==3.20", "webcolors==25.10.0", "jsonpointer==3.12", "rfc3339-validator==0.1.4", "six==1.17.0",
        # to run its tests
        "pytest==9.2.0", "iniconfig==2.3.1", "packaging==26.4", "pluggy==1.7.0", "pygments==2.21.0",
        "jsonpath-ng==1.16.0",
        # installed beside, for other work
        *_UNUSED_SMALL,
    ),
    test_args=("jsonschema/tests", "--ignore=jsonschema/tests/test_jsonschema_test_suite.py"),
    timeout=300,
)

LARGE = Case(
    name="large",
    app="networkx==3.6.1",
    about="networkx 3.6.1 (its whole test suite, which uses numpy, scipy, pandas, matplotlib, pydot, lxml, sympy)",
    env=(
        "pip==26.2.1",
        # the scientific stack networkx's tests use
        "numpy==2.4.6", "scipy==1.17.1", "pandas==3.1.1", "python-dateutil==4.0.0", "tzdata==2026.6",
        "matplotlib==3.11.2", "contourpy==1.3.3", "cycler==0.12.1", "fonttools==4.68.0", "kiwisolver==1.5.1",
        "packaging==26.4", "pillow==13.0.0", "pyparsing==3.3.3", "pydot==4.0.1", "lxml==6.1.3",
        "sympy==1.14.0", "mpmath==1.3.0",
        # pandas' optional dependencies, imported when available
        "pyarrow==26.0.1", "numexpr==2.14.2", "bottleneck==1.6.1",
        "tables==3.11.1", "blosc2==4.14.1", "ndindex==1.10.1", "msgpack==1.2.4", "py-cpuinfo==9.0.0",
        "typing-extensions==4.16.0", "openpyxl==3.1.5", "et-xmlfile==2.0.0", "sqlalchemy==2.1.9",
        # to run the tests
        "pytest==9.2.0", "iniconfig==2.3.1", "pluggy==1.7.0", "pygments==2.21.0",
        # installed beside, for other work
        "setuptools==84.2.1", "charset-normalizer==3.5.3", "requests==2.34.2", "urllib3==2.8.0", "idna==3.20",
        "certifi==2026.10.19.post1", "scikit-learn==1.9.1", "joblib==1.6.0", "threadpoolctl==3.8.0",
        "seaborn==0.13.2", "statsmodels==0.15.0", "patsy==1.0.3", "formulaic==1.2.2", "interface-meta==2.0.1",
        "narwhals==2.29.0", "wrapt==2.5.2", "xarray==2026.9.0", "dask==2026.8.0", "cloudpickle==3.1.3",
        "fsspec==2026.9.0", "partd==1.4.2", "locket==1.0.0", "toolz==1.2.0", "pyyaml==6.0.4", "click==8.5.1",
        "importlib-metadata==10.2.0", "zipp==4.1.2", "h5py==3.16.0", "jinja2==3.1.6", "markupsafe==3.0.4",
        "tqdm==4.70.1", "rich==15.0.0", "markdown-it-py==4.3.0", "mdurl==0.1.2", "tabulate==0.10.0",
        "httpx==0.28.1", "httpcore==1.0.9", "h11==0.16.0", "anyio==4.16.0", "h2==4.4.1", "hpack==4.2.0",
        "hyperframe==6.1.0", "pydantic==2.14.4", "pydantic-core==2.50.5", "annotated-types==0.8.0",
        "typing-inspection==0.4.5", "lazy-importer==0.1.0",
    ),
    test_args=("networkx",),
    timeout=1800,
    known_misses={
        "loaded_called_unused": (
            "currently 2 packages loaded at run time are called unused, neither at import time: "
            "charset-normalizer (on demand: numpy's lazy __getattr__ loads numpy.f2py, whose crackfortran "
            "imports it; the report names the chain, --keep-optional keeps it; only a trace can tell the "
            "tests touch numpy.f2py), setuptools (its distutils-precedence.pth runs at every start-up)"
        ),
    },
)

CASES = {case.name: case for case in (SMALL, LARGE)}
