//! Property tests: no text presented as a token or an organisation code
//! makes the checks panic, and no such text is ever accepted.

use pf_access::{LocalIssuer, LocalIssuerConfig, Mode, OrgId, TokenVerifier};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn arbitrary_tokens_are_refused_without_panicking(
        token in "[A-Za-z0-9_=.-]{0,300}|eyJ[A-Za-z0-9_-]{0,60}\\.[A-Za-z0-9_-]{0,80}\\.[A-Za-z0-9_-]{0,80}|.{0,200}",
    ) {
        let issuer = LocalIssuer::new(Mode::Development, LocalIssuerConfig::default()).expect("issuer");
        let verifier = TokenVerifier::new(issuer.issuer_config()).expect("verifier");
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        prop_assert!(runtime.block_on(verifier.verify(&token)).is_err());
    }

    #[test]
    fn arbitrary_organisation_codes_never_panic(text in ".{0,20}") {
        let _ = OrgId::parse(&text);
    }
}
