"""The package's version (read by the store and the sweep records without importing the
package's ``__init__``)."""

__version__ = "0.1.0"
