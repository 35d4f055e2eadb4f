//! Millwright platform.
