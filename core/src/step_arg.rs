//! [`StepArg`]: how a step function's argument enters its key, for the step macro
//! (`#[stepcache::step]`) that keys a function on every one of its arguments.

use alloc::string::String;
use alloc::vec::Vec;

use crate::engine::Hit;
use crate::key::{Arg, KeyBuilder};
use crate::value::Value;

/// A value that can be a step function's argument: it adds itself to the key under its
/// parameter's name. Implemented for numbers, `bool`, text, lists and arrays of these (as
/// lists), [`Value`] (an array: element type, shape and bytes), [`Hit`] (an earlier
/// step's result, by lineage), and `Option`s of these (`None` as [`Arg::none`]). Implement it for a type of your own by adding its fields
/// (`builder.arg(...)`, `builder.value(...)`) or a digest of it.
pub trait StepArg {
    /// `builder` with this value added as the argument `name`.
    fn add_to(&self, builder: KeyBuilder, name: &str) -> KeyBuilder;
}

/// Scalars, text and lists: what [`KeyBuilder::arg`] takes.
macro_rules! as_arg {
    ($($t:ty),* $(,)?) => {$(
        impl StepArg for $t {
            fn add_to(&self, builder: KeyBuilder, name: &str) -> KeyBuilder {
                builder.arg(name, Arg::from(self.clone()))
            }
        }
    )*};
}
as_arg!(
    u8, i8, u16, i16, u32, i32, u64, i64, usize, isize, i128, bool, f32, f64, String
);

impl StepArg for str {
    fn add_to(&self, builder: KeyBuilder, name: &str) -> KeyBuilder {
        builder.arg(name, self)
    }
}

impl<T: Into<Arg> + Clone> StepArg for [T] {
    fn add_to(&self, builder: KeyBuilder, name: &str) -> KeyBuilder {
        builder.arg(name, self)
    }
}

impl<T: Into<Arg> + Clone> StepArg for Vec<T> {
    fn add_to(&self, builder: KeyBuilder, name: &str) -> KeyBuilder {
        builder.arg(name, self.as_slice())
    }
}

impl<T: Into<Arg> + Clone, const N: usize> StepArg for [T; N] {
    fn add_to(&self, builder: KeyBuilder, name: &str) -> KeyBuilder {
        builder.arg(name, self.as_slice())
    }
}

impl StepArg for Value {
    fn add_to(&self, builder: KeyBuilder, name: &str) -> KeyBuilder {
        builder.value(name, self)
    }
}

impl StepArg for Hit {
    fn add_to(&self, builder: KeyBuilder, name: &str) -> KeyBuilder {
        builder.lineage(name, self)
    }
}

/// `None` keys as an absent value ([`KeyBuilder::none`]), `Some(v)` as `v`.
impl<T: StepArg> StepArg for Option<T> {
    fn add_to(&self, builder: KeyBuilder, name: &str) -> KeyBuilder {
        match self {
            Some(value) => value.add_to(builder, name),
            None => builder.none(name),
        }
    }
}

/// A reference keys as what it refers to.
impl<T: StepArg + ?Sized> StepArg for &T {
    fn add_to(&self, builder: KeyBuilder, name: &str) -> KeyBuilder {
        (**self).add_to(builder, name)
    }
}
