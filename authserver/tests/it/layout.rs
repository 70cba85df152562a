//! The auth server's modules have no import circles (see `authdomain_tests::layout`).

#[test]
fn no_import_circles() {
    // The directory cargo runs the test for (so the check can be pointed at another tree).
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or(env!("CARGO_MANIFEST_DIR").into());
    authdomain_tests::layout::assert_no_module_cycles(&dir);
}
