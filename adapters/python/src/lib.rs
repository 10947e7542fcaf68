#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod arrays;
mod cache;
mod errors;
mod keys;
mod paths;
mod report;
mod shared;

use pyo3::prelude::*;

/// The native part of the Python package `stepcache` (`stepcache._native`); the package
/// re-exports it and adds `open` and the step decorator in Python.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::register(m)?;
    m.add_class::<cache::PyCache>()?;
    m.add_class::<cache::PyValue>()?;
    m.add_class::<report::PyKey>()?;
    m.add_class::<report::PyHit>()?;
    m.add_class::<report::PyStats>()?;
    m.add_class::<report::PyTierStats>()?;
    m.add_class::<report::PySharedStats>()?;
    m.add_class::<report::PyTypeStats>()?;
    m.add_class::<report::PyEntryInfo>()?;
    m.add_class::<report::PyProvenance>()?;
    m.add_class::<report::PyStatus>()?;
    m.add_class::<report::PyArrayArg>()?;
    m.add_class::<report::PyDigestArg>()?;
    m.add_class::<report::PyLineageArg>()?;
    m.add_class::<arrays::Owner>()?;
    m.add_function(wrap_pyfunction!(cache::key, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
