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
