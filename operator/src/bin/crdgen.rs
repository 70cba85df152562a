//! Print the AuthDomain and OAuthClient CRDs (`cargo run -p operator --bin crdgen >
//! manifests/crds/authdomain.io.yaml`). A test fails when the checked-in file differs.

fn main() {
    print!("{}", operator::crd::crds_yaml());
}
