//! The `log!` macro.

/// Logs one row: `log!(run, loss = l, lr = lr)` or `log!(run, "train/loss" => l)`.
///
/// Each value goes through `Value::from`, so numbers, booleans and strings work as they are.
///
/// ```
/// # let run = labbook_core::Run::disabled();
/// let (l, lr) = (0.41, 0.01);
/// labbook_core::log!(run, loss = l, lr = lr)?;
/// labbook_core::log!(run, "train/loss" => l, "lr" => lr)?;
/// # Ok::<(), labbook_core::Error>(())
/// ```
#[macro_export]
macro_rules! log {
    ($run:expr, $($name:ident = $value:expr),+ $(,)?) => {
        $run.log([$((stringify!($name), $crate::Value::from($value))),+])
    };
    ($run:expr, $($key:expr => $value:expr),+ $(,)?) => {
        $run.log([$(($key, $crate::Value::from($value))),+])
    };
}
