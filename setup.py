"""Build of the optional C extension; everything else is configured in pyproject.toml."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        # Typed CDR decoding (vos3000/cdr_native.py). `optional` lets the install succeed without
        # a C compiler; loads then use the SQL decoding alone.
        Extension(
            "ykvos_dagster.vos3000._cdr_native",
            ["ykvos_dagster/vos3000/_cdr_native.c"],
            extra_compile_args=["-O2"],
            optional=True,
        )
    ]
)
