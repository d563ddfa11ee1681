//! Hands polars columns to arrow-rs through the Arrow C Data Interface.
//!
//! Polars keeps its own Arrow implementation (`polars-arrow`); the mart is written with arrow-rs
//! (via deltalake). Both speak the C Data Interface, so a column crosses by handing over its
//! buffers, with no per-row copy; only the final cast to the mart's type may copy (e.g. string
//! views to plain strings).

use std::sync::Arc;

use arrow::array::{ArrayRef, make_array};
use arrow::datatypes::DataType;
use arrow::ffi::{FFI_ArrowArray, FFI_ArrowSchema, from_ffi};
use polars::prelude::{Column, CompatLevel};

use crate::error::{Error, Result};

/// Converts a polars column to an arrow-rs array of type `target`.
pub fn to_arrow(column: &Column, target: &DataType) -> Result<ArrayRef> {
    let series = column.as_materialized_series().rechunk();
    let array = series.to_arrow(0, CompatLevel::oldest());
    let field =
        polars_arrow::datatypes::Field::new(series.name().clone(), array.dtype().clone(), true);
    let c_array = polars_arrow::ffi::export_array_to_c(array);
    let c_schema = polars_arrow::ffi::export_field_to_c(&field);
    // SAFETY: both structs are the C Data Interface's `ArrowArray` / `ArrowSchema`, declared
    // `#[repr(C)]` with identical layouts by both crates; ownership (and the release callback)
    // moves to arrow-rs, which calls it exactly once when the imported array is dropped.
    let data = unsafe {
        let c_array: FFI_ArrowArray = std::mem::transmute(c_array);
        let c_schema: FFI_ArrowSchema = std::mem::transmute(c_schema);
        from_ffi(c_array, &c_schema)?
    };
    let array = make_array(data);
    if array.data_type() == target {
        return Ok(array);
    }
    arrow::compute::cast(&array, target)
        .map_err(|e| Error::Invariant(format!("casting column {} to {target}: {e}", column.name())))
}

/// Converts an arrow-rs array to a shared reference (helper for building batches).
pub fn shared(a: impl arrow::array::Array + 'static) -> ArrayRef {
    Arc::new(a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, Float64Array, StringArray};

    #[test]
    fn strings_and_numbers_cross_with_nulls_intact() {
        let s = Column::new("s".into(), &[Some("a"), None, Some("ccc")]);
        let a = to_arrow(&s, &DataType::Utf8).unwrap();
        let a = a.as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!(a.value(2), "ccc");
        assert!(a.is_null(1));
        let f = Column::new("f".into(), &[1.5f64, -2.0]);
        let b = to_arrow(&f, &DataType::Float64).unwrap();
        assert_eq!(
            b.as_any().downcast_ref::<Float64Array>().unwrap().value(1),
            -2.0
        );
    }
}
