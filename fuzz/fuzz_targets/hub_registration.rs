//! The hub's `POST /v1/register` body: the JSON, then the bootstrap token's format and the CSR
//! it would sign (with a throwaway CA), exactly the checks the hub runs before and after
//! redeeming a token.
#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use cceone_platform::ca::HubCa;
use libfuzzer_sys::fuzz_target;

fn ca() -> &'static HubCa {
    static CA: OnceLock<HubCa> = OnceLock::new();
    CA.get_or_init(|| HubCa::generate().expect("a throwaway CA").0)
}

fuzz_target!(|data: &[u8]| {
    let Ok(reg) = cceone_hub::parse_registration(data) else {
        return;
    };
    let _ = cceone_platform::token::parse(&reg.token);
    if cceone_platform::ca::check_csr(&reg.csr_pem).is_ok() {
        let _ = ca().sign_cluster_csr(&reg.csr_pem, "fuzz", Duration::from_secs(3600));
    }
});
