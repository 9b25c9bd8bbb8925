//! Fuzz target: any text fed to the repo-info parser must yield a document or an error, never a
//! panic, and whatever parses must also map and render. Run with
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run parse fuzz/corpus/parse testdata/seeds testdata/parse -- -max_len=20000`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(doc) = retrace::parse::parse_str(text, "fuzz") {
        for tag in &doc.tags {
            for image in &tag.platforms {
                let mapping = retrace::mapping::map_platform(image);
                let _ = retrace::dockerfile::render(&tag.tag, image, &mapping);
            }
        }
    }
});
