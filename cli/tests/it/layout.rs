//! The CLI's and the provisioner's modules have no import circles (see
//! `authdomain_tests::layout`).

#[test]
fn no_import_circles() {
    let cli = env!("CARGO_MANIFEST_DIR");
    authdomain_tests::layout::assert_no_module_cycles(cli);
    authdomain_tests::layout::assert_no_module_cycles(&format!("{cli}/../provisioner"));
    authdomain_tests::layout::assert_no_module_cycles(&format!("{cli}/../core"));
    authdomain_tests::layout::assert_no_module_cycles(&format!("{cli}/../operator"));
}
