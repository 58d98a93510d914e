//! Macros the crate's modules share.

/// `Display` and `std::error::Error` for one of the crate's small error
/// types whose message is a fixed sentence: one for the type, or one per
/// variant.
///
/// ```text
/// error_message!(LoopClosed => "the event loop is closed");
/// error_message!(PutError<T> {
///     PutError::Full(_) => "the queue is full",
///     PutError::ShutDown(_) => "the queue was shut down",
/// });
/// ```
macro_rules! error_message {
    ($name:ident $(<$g:ident>)? => $msg:literal) => {
        impl$(<$g>)? ::std::fmt::Display for $name$(<$g>)? {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str($msg)
            }
        }

        impl$(<$g>)? ::std::error::Error for $name$(<$g>)? {}
    };
    ($name:ident $(<$g:ident>)? { $($pat:pat => $msg:literal),+ $(,)? }) => {
        impl$(<$g>)? ::std::fmt::Display for $name$(<$g>)? {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(match self {
                    $($pat => $msg),+
                })
            }
        }

        impl$(<$g>)? ::std::error::Error for $name$(<$g>)? {}
    };
}

/// Builder setters that hand their arguments to the same method of the
/// wrapped std builder in field `$field` and return `&mut Self`, each with
/// its own doc comment.
macro_rules! forward_setters {
    ($field:tt; $($(#[$doc:meta])* fn $name:ident($($arg:ident: $t:ty),*);)*) => {$(
        $(#[$doc])*
        pub fn $name(&mut self, $($arg: $t),*) -> &mut Self {
            self.$field.$name($($arg),*);
            self
        }
    )*};
}
