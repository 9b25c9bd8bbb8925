//! What a RUN step fetches from the network: named when it fails, so a user learns what to supply
//! (`downloads:`) or that the step cannot be replayed offline.

use super::proxy::Misses;
use super::Ctx;
use crate::replay::exec::ExecError;

/// Commands that reach the network on their own, without a URL in the step's text.
const FETCHERS: [&str; 14] = [
    "apk add",
    "apk update",
    "apk upgrade",
    "apt-get install",
    "apt-get update",
    "apt-get upgrade",
    "yum install",
    "dnf install",
    "pip install",
    "npm install",
    "gem install",
    "go get",
    "git clone",
    "--recv-keys",
];

/// The URLs in a step's text.
fn urls(step: &str) -> Vec<&str> {
    step.split(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == ';')
        .filter(|w| w.starts_with("http://") || w.starts_with("https://"))
        .collect()
}

/// What in `step` visibly needs the network (its URLs and package-manager commands), or `None`.
pub fn needs(step: &str) -> Option<String> {
    let mut seen: Vec<String> = FETCHERS
        .iter()
        .filter(|f| step.contains(*f))
        .map(|f| format!("`{f}`"))
        .collect();
    seen.extend(urls(step).into_iter().take(5).map(str::to_string));
    (!seen.is_empty()).then(|| seen.join(", "))
}

/// When a RUN fails, names what it could not fetch and how to supply it: the `http://` URLs the
/// download proxy was asked for and did not have, the hosts of `https://` fetches (which no cache
/// can serve), and the URLs in the step's text. The hint is empty when there is nothing to say.
pub fn hint(step: &str, ctx: &Ctx, err: &ExecError, misses: Option<&Misses>) -> String {
    if !matches!(err, ExecError::StepFailed { .. }) {
        return String::new();
    }
    if let Some(hint) = misses.map(|m| proxy_hint(ctx, m)).filter(|h| !h.is_empty()) {
        return hint;
    }
    let urls = urls(step);
    if urls.is_empty() {
        return String::new();
    }
    let mut hint = format!(
        "the step fetches {} — without network access, `http://` files can be listed under `downloads:` (served to RUN steps by retrace's proxy); `https://` ones need the network",
        urls.join(", ")
    );
    if ctx.run_network() == "none" {
        hint.push_str(" (the RUN containers have no network)");
    }
    hint
}

fn proxy_hint(ctx: &Ctx, m: &Misses) -> String {
    let mut parts = Vec::new();
    if !m.urls.is_empty() {
        parts.push(format!(
            "the download proxy had no file for {} — add each under `downloads:` with its sha256 (the file goes to {})",
            m.urls.iter().cloned().collect::<Vec<_>>().join(", "),
            ctx.sources.recipe.cache.join("downloads/sha256/<sha256>").display()
        ));
    }
    if m.more > 0 {
        parts.push(format!("{} more requests missed and are not listed", m.more));
    }
    if !m.tunnels.is_empty() {
        parts.push(format!(
            "https fetches from {} cannot be served from the cache and need network access",
            m.tunnels.iter().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::needs;

    #[test]
    fn package_managers_and_urls_are_named() {
        let step = "RUN set -eux; apk add --no-cache --virtual .build-deps gcc; wget -O x https://www.apache.org/dist/httpd.tar.bz2";
        assert_eq!(
            needs(step).as_deref(),
            Some("`apk add`, https://www.apache.org/dist/httpd.tar.bz2")
        );
        assert_eq!(needs("RUN mkdir -p /usr/local/apache2"), None);
    }
}
