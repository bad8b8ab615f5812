//! `wire_enum!`: declares a `u16` wire enum together with its list of values and its conversions, so the list can
//! never miss a variant.

/// Declares `enum $name` as `#[repr(u16)]` with `ALL`, `as_u16` and `from_u16`.
macro_rules! wire_enum {
    ($(#[$meta:meta])* $vis:vis enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $value:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u16)]
        $vis enum $name {
            $($(#[$vmeta])* $variant = $value,)+
        }

        impl $name {
            /// Every value, in declaration (numeric) order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The wire number.
            pub fn as_u16(self) -> u16 {
                self as u16
            }

            /// The value with this wire number, if this build knows it.
            pub fn from_u16(n: u16) -> Option<Self> {
                match n {
                    $($value => Some($name::$variant),)+
                    _ => None,
                }
            }
        }
    };
}

pub(crate) use wire_enum;
