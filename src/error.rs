//! How an error becomes text. Each stage has its own typed error carrying the facts, and the
//! commands gather them ([`crate::commands::error::Error`]).
//!
//! An error's own text says only its own facts; its cause is reached through `source()`. [`Chain`]
//! is the one way an error becomes text, in the library and in the binary: it prints the error and
//! then each cause in turn, so no cause is lost and none is printed twice.

/// An error and its causes on one line: the error's own text, then `: ` and the text of each
/// `source()` in turn (`step 3 `RUN make`: the command exited with status 2`).
pub struct Chain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut last = self.0.to_string();
        f.write_str(&last)?;
        let mut cause = self.0.source();
        while let Some(err) = cause {
            let text = err.to_string();
            // Some foreign errors (bollard's, for one) end their own text with their source's;
            // printing that source again would only repeat it.
            if !last.ends_with(&text) {
                write!(f, ": {text}")?;
            }
            last = text;
            cause = err.source();
        }
        Ok(())
    }
}

/// The text of `err` with all its causes; see [`Chain`].
pub fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    Chain(err).to_string()
}

#[cfg(test)]
#[path = "error_tests.rs"]
mod tests;
