//! The named-query header and parameter parser: any header text and any `--param` values must
//! give a query or a clear error, never a panic; a bound value is a value of the declared type.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // The first line is the header part, the rest are `--param` arguments.
    let (header, params) = text.split_once('\n').unwrap_or((text, ""));
    let sql = format!("-- name: fuzzed\n-- description: fuzzed\n{header}\nSELECT $a, $b\n");
    if let Ok(q) = crm_mart::query::named::parse("fuzzed", "fuzz", &sql) {
        let given: Vec<String> = params.lines().map(str::to_string).collect();
        for g in &given {
            let _ = crm_mart::query::params::split_assignment(g);
        }
        let _ = crm_mart::query::params::bind("fuzzed", &q.params, &given);
    }
    let _ = crm_mart::query::named::placeholders(text);
});
