//! Text joined from pieces without `core::fmt`: messages, and the few keys built from text.
//!
//! `format!` links the whole formatter into the npm package's `.wasm` (`fmt::write`,
//! padding and alignment, which count a string's characters, integer formatting with its
//! tables): about 2 KB gzipped, for messages that only ever join text and unsigned
//! integers. [`text!`](crate::text!) does that in a few lines. The core and the browser
//! adapter use it; native-only code may use `format!`.

use alloc::string::String;

use crate::{Fingerprint, Key};

/// A piece of [`text!`](crate::text!): something that appends itself to a string.
pub trait Piece {
    /// Appends this piece to `out`.
    fn push_to(&self, out: &mut String);
}

impl Piece for str {
    fn push_to(&self, out: &mut String) {
        out.push_str(self);
    }
}

impl Piece for String {
    fn push_to(&self, out: &mut String) {
        out.push_str(self);
    }
}

impl<T: Piece + ?Sized> Piece for &T {
    fn push_to(&self, out: &mut String) {
        (**self).push_to(out);
    }
}

macro_rules! unsigned_pieces {
    ($($t:ty),*) => {$(
        impl Piece for $t {
            fn push_to(&self, out: &mut String) {
                push_decimal(*self as u64, out);
            }
        }
    )*};
}
unsigned_pieces!(u8, u16, u32, u64, usize);

/// `b3:` and the hex digits, as `Display` writes it.
impl Piece for Fingerprint {
    fn push_to(&self, out: &mut String) {
        out.push_str("b3:");
        out.push_str(&self.to_hex());
    }
}

/// `step@b3:...`, as `Display` writes it.
impl Piece for Key {
    fn push_to(&self, out: &mut String) {
        out.push_str(self.step());
        out.push('@');
        self.fingerprint().push_to(out);
    }
}

/// Appends the decimal digits of `n`.
fn push_decimal(mut n: u64, out: &mut String) {
    // u64::MAX has 20 digits.
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend(digits[start..].iter().map(|&d| char::from(d)));
}

/// Joins `pieces` into one string (what [`text!`](crate::text!) expands to).
pub fn join(pieces: &[&dyn Piece]) -> String {
    let mut out = String::new();
    for piece in pieces {
        piece.push_to(&mut out);
    }
    out
}

/// Joins text and unsigned integers into a `String`, like `format!` without the formatter
/// (see [the module](mod@crate::text)): `text!("got ", len, " bytes")`.
#[macro_export]
macro_rules! text {
    ($($piece:expr),+ $(,)?) => {
        $crate::text::join(&[$(&$piece),+])
    };
}

#[cfg(test)]
mod tests {
    use crate::Fingerprint;

    #[test]
    fn joins_text_and_numbers_as_format_does() {
        for n in [0u64, 7, 10, 99, 1_000, 18_446_744_073_709_551_615] {
            assert_eq!(text!("n=", n, ";"), alloc::format!("n={n};"));
        }
        let id = Fingerprint::of_bytes(b"x");
        assert_eq!(text!(id), alloc::format!("{id}"));
        assert_eq!(text!("a", 1u8, 2usize, alloc::string::String::from("b")), "a12b");
    }
}
