//! The source reader: any bytes as a sales CSV file must read into surviving rows and rejected
//! records that add up to the records read, or fail with an error naming the file, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = std::env::temp_dir().join(format!("crm-mart-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("sales.csv");
    let mut bytes =
        b"order_id,line_no,order_ts,customer_id,product_id,store_id,quantity,unit_price,discount\n"
            .to_vec();
    bytes.extend_from_slice(data);
    std::fs::write(&file, &bytes).unwrap();
    let mapping = crm_mart::config::SourceMapping::default();
    match crm_mart::etl::read::read_file(&file, &mapping, &dir.join("crm-mart.toml")) {
        Ok(rows) => assert_eq!(
            rows.rows_read,
            rows.df.height() as u64 + rows.rejects.len() as u64,
            "records read must be surviving rows plus rejects"
        ),
        Err(e) => assert!(e.to_string().contains("sales.csv"), "{e}"),
    }
});
