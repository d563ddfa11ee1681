//! The shapes real exports have: other dialects and encodings, normalized files joined by
//! lookups, restated rows, picklists, consent flags, and a batch too bad to load. Each fixture
//! is written here; the loaded rows and totals are checked against the test's own computation.

use std::path::Path;

use super::common::*;

fn write(path: &Path, bytes: impl AsRef<[u8]>) {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).unwrap();
    }
    std::fs::write(path, bytes).unwrap();
}

/// `crm-mart etl` with the `crm-mart.toml` in `dir`.
fn etl_here(dir: &Path) -> assert_cmd::assert::Assert {
    cmd(dir).arg("etl").assert()
}

fn cents(v: f64) -> i64 {
    (v * 100.0).round() as i64
}

fn stderr_of(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stderr).to_string()
}

#[test]
fn an_unquoted_tab_export_with_inch_marks_loads_every_line() {
    let d = tempfile::tempdir().unwrap();
    // Tab-separated, nothing quoted, descriptions with inch marks and a quote that opens no field.
    let names = [
        "RECORD FRAME 7\" SINGLE SIZE",
        "PHOTO FRAME 12\" x 8\"",
        "WHITE HANGING HEART T-LIGHT HOLDER",
        "SET OF 3 \"VINTAGE\" TINS",
    ];
    let mut text = String::from("Invoice\tItem\tDescription\tQty\tDate\tPrice\tCustomer\n");
    let mut expected = 0i64;
    for i in 0..120u32 {
        let (qty, price) = (1 + i % 7, 0.85 + (i % 11) as f64 * 0.4);
        expected += cents(qty as f64 * price);
        text.push_str(&format!(
            "{}\tP{}\t{}\t{qty}\t2024-03-{:02} 10:{:02}\t{price:.2}\tC{}\n",
            5000 + i / 3,
            i % 4,
            names[(i % 4) as usize],
            1 + i % 28,
            i % 60,
            i % 9
        ));
    }
    write(&d.path().join("export/sales.tsv"), &text);
    write(
        &d.path().join("crm-mart.toml"),
        r#"
[paths]
source = "export"
mart = "mart"
[sources.sales]
path = "sales.tsv"
delimiter = "\t"
timestamp_format = "%Y-%m-%d %H:%M"
[sources.sales.columns]
order_id = "Invoice"
product_id = "Item"
product_name = "Description"
quantity = "Qty"
order_ts = "Date"
unit_price = "Price"
customer_id = "Customer"
"#,
    );
    etl_here(d.path()).success();
    let mart = d.path().join("mart");
    assert_eq!(
        scalar(&mart, "fact_sales", "SELECT count(*) FROM fact_sales"),
        "120"
    );
    let total: f64 = scalar(
        &mart,
        "fact_sales",
        "SELECT sum(net_amount) FROM fact_sales",
    )
    .parse()
    .unwrap();
    assert_eq!(cents(total), expected);
    let mut products = rows(&sql(
        &mart,
        "dim_product",
        "SELECT name FROM dim_product ORDER BY product_id",
    ));
    products.sort();
    let mut want: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    want.sort();
    assert_eq!(products, want);
}

/// A customers file as Excel writes it on Windows, sales and contacts that refer to it, and a
/// contacts file in UTF-16.
fn encoded_export(dir: &Path) -> (usize, i64) {
    let names = ["Müller-Großé", "Søren Ørsted", "Zoë Brontë", "Plain Name"];
    let mut customers = String::from("customer_id,name,city,country\n");
    for i in 0..30 {
        customers.push_str(&format!(
            "C{i},{} {i},Köln,Deutschland\n",
            names[i % names.len()]
        ));
    }
    let cp1252 = encoding_rs::WINDOWS_1252.encode(&customers).0.into_owned();
    write(&dir.join("export/customers.csv"), cp1252);
    let mut sales =
        String::from("order_id,line_no,order_ts,customer_id,product_id,quantity,unit_price\n");
    let mut expected = 0i64;
    for i in 0..60 {
        let price = 2.5 + (i % 5) as f64;
        expected += cents(2.0 * price);
        sales.push_str(&format!(
            "O{i},1,2024-02-{:02} 09:00:00,C{},P{},2,{price:.2}\n",
            1 + i % 28,
            i % 30,
            i % 3
        ));
    }
    write(&dir.join("export/sales.csv"), sales);
    let mut contacts = String::from("contact_id,contact_ts,customer_id,channel,outcome\n");
    for i in 0..20 {
        contacts.push_str(&format!(
            "K{i},2024-02-{:02} 12:00:00,C{},phone,resolved\n",
            1 + i % 28,
            i % 30
        ));
    }
    let mut utf16 = vec![0xFF, 0xFE];
    for u in contacts.encode_utf16() {
        utf16.extend_from_slice(&u.to_le_bytes());
    }
    write(&dir.join("export/contacts.csv"), utf16);
    (60, expected)
}

#[test]
fn a_windows_1252_customer_file_is_refused_until_its_encoding_is_declared() {
    let d = tempfile::tempdir().unwrap();
    let (lines, expected) = encoded_export(d.path());
    let config = |extra: &str| {
        write(
            &d.path().join("crm-mart.toml"),
            format!(
                "[paths]\nsource = \"export\"\nmart = \"mart\"\n[sources.contacts]\nencoding = \"utf-16\"\n{extra}"
            ),
        )
    };
    // Undeclared: no record is UTF-8 ("Köln" in every row) → refused whole, nothing committed.
    config("");
    let a = etl_here(d.path()).code(1);
    let err = stderr_of(&a);
    assert!(err.contains("customers.csv"), "{err}");
    assert!(
        err.contains("30 of 30 records (100.0%) are not valid UTF-8"),
        "{err}"
    );
    assert!(err.contains("encoding = \"windows-1252\""), "{err}");
    let mart = d.path().join("mart");
    assert!(versions(&mart).iter().all(|(_, v)| v.is_none()));
    // Declared: everything loads, accented names intact.
    config("[sources.customers]\nencoding = \"windows-1252\"\n");
    etl_here(d.path()).success();
    assert_eq!(
        scalar(&mart, "fact_sales", "SELECT count(*) FROM fact_sales"),
        lines.to_string()
    );
    let total: f64 = scalar(
        &mart,
        "fact_sales",
        "SELECT sum(net_amount) FROM fact_sales",
    )
    .parse()
    .unwrap();
    assert_eq!(cents(total), expected);
    assert_eq!(
        scalar(
            &mart,
            "dim_customer",
            "SELECT name || '/' || city FROM dim_customer WHERE customer_id = 'C0'"
        ),
        "Müller-Großé 0/Köln"
    );
    assert_eq!(
        scalar(&mart, "fact_contacts", "SELECT count(*) FROM fact_contacts"),
        "20"
    );
    assert_eq!(
        scalar(&mart, "_quarantine", "SELECT count(*) FROM _quarantine"),
        "0"
    );
}

#[test]
fn a_utf8_file_declared_windows_1252_is_refused_rather_than_garbled() {
    let d = tempfile::tempdir().unwrap();
    write(
        &d.path().join("export/sales.csv"),
        "order_id,line_no,order_ts,customer_id,product_id,quantity,unit_price\nO1,1,2024-01-02 10:00:00,Jürgen,P1,1,2.00\n",
    );
    write(
        &d.path().join("crm-mart.toml"),
        "[paths]\nsource = \"export\"\nmart = \"mart\"\n[sources.sales]\nencoding = \"windows-1252\"\n",
    );
    let a = etl_here(d.path()).code(1);
    let err = stderr_of(&a);
    assert!(
        err.contains("sales.csv") && err.contains("valid UTF-8"),
        "{err}"
    );
}

/// An order-lines file, an orders file and a customers file whose person id differs from the
/// per-order customer id; one line of an unknown order, one order without lines.
fn normalized_export(dir: &Path) {
    write(
        &dir.join("export/order_items.csv"),
        "order_id,order_item_id,product_id,price\n\
         o1,1,p1,10.50\n\
         o1,2,p2,4.25\n\
         o2,1,p1,10.50\n\
         o3,1,p3,99.90\n\
         o9,1,p2,4.25\n\
         o4,1,p2,4.00\n",
    );
    write(
        &dir.join("export/orders.csv"),
        "order_id,customer_id,order_purchase_timestamp,order_status\n\
         o1,c-a1,2018-01-05 10:00:00,delivered\n\
         o2,c-a2,2018-02-07 11:30:00,delivered\n\
         o3,c-b1,2018-02-09 08:15:00,delivered\n\
         o4,c-c1,2018-03-01 17:45:00,delivered\n\
         o5,c-c1,2018-03-02 09:00:00,canceled\n",
    );
    // Person A placed o1 and o2 under two per-order customer ids.
    write(
        &dir.join("export/customers.csv"),
        "customer_id,customer_unique_id,customer_city,customer_state\n\
         c-a1,person-A,sao paulo,SP\n\
         c-a2,person-A,sao paulo,SP\n\
         c-b1,person-B,rio de janeiro,RJ\n\
         c-c1,person-C,curitiba,PR\n",
    );
}

const NORMALIZED_CONFIG: &str = r#"
[paths]
source = "export"
mart = "mart"
[quality]
max_quarantine_share = 0.2
[sources.sales]
path = "order_items.csv"
[sources.sales.lookup.orders]
path = "orders.csv"
key = "order_id"
[sources.sales.lookup.customers]
path = "customers.csv"
key = "customer_id"
[sources.sales.constants]
quantity = "1"
[sources.sales.columns]
line_no = "order_item_id"
order_ts = "order_purchase_timestamp"
customer_id = "customer_unique_id"
unit_price = "price"
customer_country = "customer_state"
"#;

#[test]
fn a_normalized_three_file_export_loads_through_lookups() {
    let d = tempfile::tempdir().unwrap();
    normalized_export(d.path());
    write(&d.path().join("crm-mart.toml"), NORMALIZED_CONFIG);
    etl_here(d.path()).success();
    let mart = d.path().join("mart");
    // Five of six lines; o9 has no order.
    assert_eq!(
        scalar(&mart, "fact_sales", "SELECT count(*) FROM fact_sales"),
        "5"
    );
    assert_eq!(
        scalar(
            &mart,
            "fact_sales",
            "SELECT sum(net_amount) FROM fact_sales"
        ),
        format!("{}", 10.50 + 4.25 + 10.50 + 99.90 + 4.00)
    );
    assert_eq!(
        rows(&sql(
            &mart,
            "_quarantine",
            "SELECT source, file, line, split_part(reason, ':', 1), \"column\", value FROM _quarantine"
        )),
        vec!["sales|order_items.csv|6|unknown_reference|order_id|o9"]
    );
    // Customers are people: A's two orders share one customer, with the state as country.
    assert_eq!(
        rows(&sql(
            &mart,
            "dim_customer",
            "SELECT customer_id, country FROM dim_customer WHERE customer_key > 0 ORDER BY customer_id"
        )),
        vec!["person-A|SP", "person-B|RJ", "person-C|PR"]
    );
    assert_eq!(
        scalar(
            &mart,
            "fact_sales",
            "SELECT count(DISTINCT customer_key) FROM fact_sales WHERE order_id IN ('o1', 'o2')"
        ),
        "1"
    );
    // The lookup files are not loaded as the customers entity, and every row of each file is
    // accounted for: o5 is an order no line refers to.
    let files = scalar(
        &mart,
        "_etl_runs",
        "SELECT files FROM _etl_runs WHERE entity = 'sales'",
    );
    let files: serde_json::Value = serde_json::from_str(&files).unwrap();
    let by_path = |p: &str| {
        files
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["path"] == p)
            .cloned()
            .unwrap()
    };
    let items = by_path("order_items.csv");
    assert_eq!(
        (
            items["rows_read"].as_i64(),
            items["rows_loaded"].as_i64(),
            items["rows_quarantined"].as_i64()
        ),
        (Some(6), Some(5), Some(1))
    );
    let orders = by_path("orders.csv");
    assert_eq!(orders["lookup"], "orders");
    assert_eq!(
        (
            orders["rows_read"].as_i64(),
            orders["rows_loaded"].as_i64(),
            orders["rows_unused"].as_i64()
        ),
        (Some(5), Some(4), Some(1))
    );
    let customers = by_path("customers.csv");
    assert_eq!(
        (
            customers["rows_read"].as_i64(),
            customers["rows_loaded"].as_i64(),
            customers["rows_unused"].as_i64()
        ),
        (Some(4), Some(4), Some(0))
    );
    assert_eq!(
        scalar(&mart, "_etl_runs", "SELECT count(*) FROM _etl_runs"),
        "1"
    );
}

#[test]
fn a_lookup_file_with_a_repeated_key_is_refused_naming_the_key() {
    let d = tempfile::tempdir().unwrap();
    normalized_export(d.path());
    let orders = d.path().join("export/orders.csv");
    let mut text = std::fs::read_to_string(&orders).unwrap();
    text.push_str("o2,c-b1,2018-02-08 11:30:00,delivered\n");
    write(&orders, text);
    write(&d.path().join("crm-mart.toml"), NORMALIZED_CONFIG);
    let a = etl_here(d.path()).code(1);
    let err = stderr_of(&a);
    assert!(err.contains("orders.csv"), "{err}");
    assert!(
        err.contains("order_id = 'o2' twice (first on line 3"),
        "{err}"
    );
    assert!(
        versions(&d.path().join("mart"))
            .iter()
            .all(|(_, v)| v.is_none())
    );
}

#[test]
fn restated_contacts_and_lines_are_updates_and_time_travel_shows_both() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("src");
    write(
        &src.join("customers.csv"),
        "customer_id,name\nC1,Ann\nC2,Bo\n",
    );
    let sales_head = "order_id,line_no,order_ts,customer_id,product_id,quantity,unit_price\n";
    write(
        &src.join("sales/2024-01.csv"),
        format!(
            "{sales_head}O1,1,2024-01-03 10:00:00,C1,P1,2,5.00\nO1,2,2024-01-03 10:00:00,C1,P2,1,3.00\nO2,1,2024-01-04 10:00:00,C2,P1,1,5.00\n"
        ),
    );
    let contacts_head = "contact_id,contact_ts,customer_id,channel,contact_type,outcome\n";
    write(
        &src.join("contacts/2024-01.csv"),
        format!(
            "{contacts_head}K1,2024-01-05 09:00:00,C1,phone,complaint,unresolved\nK2,2024-01-06 09:00:00,C2,email,inquiry,resolved\n"
        ),
    );
    let mart = d.path().join("mart");
    etl(d.path(), &src, &mart);
    // The next export restates K1 (now resolved) and K2 (unchanged) and adds K3; it corrects
    // the price of O1 line 1 and repeats O1 line 2 as it was.
    write(
        &src.join("contacts/2024-02.csv"),
        format!(
            "{contacts_head}K1,2024-01-05 09:00:00,C1,phone,complaint,resolved\nK2,2024-01-06 09:00:00,C2,email,inquiry,resolved\nK3,2024-02-01 09:00:00,C2,web,service,resolved\n"
        ),
    );
    write(
        &src.join("sales/2024-02.csv"),
        format!(
            "{sales_head}O1,1,2024-01-03 10:00:00,C1,P1,2,4.50\nO1,2,2024-01-03 10:00:00,C1,P2,1,3.00\n"
        ),
    );
    let out = etl(d.path(), &src, &mart);
    assert!(out.contains("updated"), "{out}");
    assert_eq!(
        rows(&sql(
            &mart,
            "fact_contacts",
            "SELECT contact_id, outcome FROM fact_contacts ORDER BY contact_id"
        )),
        vec!["K1|resolved", "K2|resolved", "K3|resolved"]
    );
    assert_eq!(
        rows(&sql(
            &mart,
            "fact_sales",
            "SELECT order_id, line_no, unit_price, net_amount FROM fact_sales ORDER BY order_id, line_no"
        )),
        vec!["O1|1|4.5|9.0", "O1|2|3.0|3.0", "O2|1|5.0|5.0"]
    );
    // read = loaded + unchanged + quarantined; loaded includes the updates.
    assert_eq!(
        rows(&sql(
            &mart,
            "_etl_runs",
            "SELECT entity, rows_read, rows_loaded, rows_updated, rows_unchanged, rows_quarantined FROM _etl_runs WHERE seq = 2 ORDER BY entity"
        )),
        vec!["contacts|3|2|1|1|0", "sales|2|1|1|1|0"]
    );
    assert_eq!(
        scalar(&mart, "_quarantine", "SELECT count(*) FROM _quarantine"),
        "0"
    );
    // Time travel: the mart after batch 1 has the old row.
    let out = cmd(d.path())
        .args(["query", "--mart"])
        .arg(&mart)
        .args([
            "--as-of-version",
            "1",
            "--format",
            "csv",
            "SELECT contact_id, outcome FROM fact_contacts ORDER BY contact_id",
        ])
        .assert()
        .success();
    let csv = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert_eq!(csv.trim(), "contact_id,outcome\nK1,unresolved\nK2,resolved");
    // The same export again changes nothing.
    etl(d.path(), &src, &mart);
    assert_eq!(
        scalar(&mart, "_etl_runs", "SELECT max(seq) FROM _etl_runs"),
        "2"
    );
}

#[test]
fn a_key_repeated_within_one_batch_is_a_duplicate() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("src");
    let head = "order_id,line_no,order_ts,customer_id,product_id,quantity,unit_price\n";
    let mut text = String::from(head);
    for i in 0..40 {
        text.push_str(&format!("O{i},1,2024-01-03 10:00:00,C1,P1,1,2.00\n"));
    }
    text.push_str("O7,1,2024-01-03 10:00:00,C1,P1,1,2.50\n");
    write(&src.join("sales.csv"), text);
    let mart = d.path().join("mart");
    etl(d.path(), &src, &mart);
    assert_eq!(
        rows(&sql(
            &mart,
            "_quarantine",
            "SELECT line, split_part(reason, ':', 1), value FROM _quarantine"
        )),
        vec!["42|duplicate_key|O7"]
    );
}

#[test]
fn picklist_words_and_consent_flags_load_through_value_maps() {
    let d = tempfile::tempdir().unwrap();
    write(
        &d.path().join("export/customers.csv"),
        "Id,Name,EmailOK,PhoneOK,DoNotContact,Modified\nC1,Ann,Y,N,N,2024-01-01\nC2,Bo,N,Y,N,2024-01-01\n",
    );
    write(
        &d.path().join("export/sales.csv"),
        "order_id,line_no,order_ts,customer_id,product_id,quantity,unit_price\nO1,1,2024-01-03 10:00:00,C1,P1,1,2.00\nO2,1,2024-01-04 10:00:00,C2,P1,1,2.00\n",
    );
    let mut activities = String::from("Activity ID,Date,Contact,Type,Kind,Status\n");
    let picks = [
        ("Call", "Complaint", "Completed"),
        ("Email Sent", "Inquiry", "Not Completed"),
        ("call", "Service", "completed"),
        ("Web Form", "Inquiry", "No Answer"),
    ];
    for i in 0..12 {
        let (t, k, s) = picks[i % 4];
        activities.push_str(&format!(
            "A{i},2024-01-{:02} 09:00:00,C{},{t},{k},{s}\n",
            10 + i,
            1 + i % 2
        ));
    }
    activities.push_str("A99,2024-01-30 09:00:00,C1,Fax,Inquiry,Completed\n");
    write(&d.path().join("export/activities.csv"), activities);
    let config = |share: &str| {
        write(
            &d.path().join("crm-mart.toml"),
            format!(
                r#"
[paths]
source = "export"
mart = "mart"
[quality]
max_quarantine_share = {share}
[sources.customers]
[sources.customers.columns]
customer_id = "Id"
name = "Name"
email_opt_in = "EmailOK"
phone_opt_in = "PhoneOK"
do_not_contact = "DoNotContact"
updated_at = "Modified"
[sources.customers.values.email_opt_in]
"Y" = "true"
"N" = "false"
[sources.customers.values.phone_opt_in]
"y" = "true"
"n" = "false"
[sources.customers.values.do_not_contact]
"Y" = "true"
"N" = "false"
[sources.contacts]
path = "activities.csv"
[sources.contacts.columns]
contact_id = "Activity ID"
contact_ts = "Date"
customer_id = "Contact"
channel = "Type"
contact_type = "Kind"
outcome = "Status"
[sources.contacts.values.channel]
"Call" = "phone"
"Email Sent" = "email"
"Web Form" = "web"
[sources.contacts.values.outcome]
"Completed" = "resolved"
"Not Completed" = "unresolved"
"No Answer" = "no_response"
"#
            ),
        )
    };
    // One unmapped word in 13 contacts (7.7%) is over the default limit: refused, with the
    // reasons and the row.
    config("0.05");
    let a = etl_here(d.path()).code(1);
    let err = stderr_of(&a);
    assert!(
        err.contains("contacts (activities.csv): 1 of 13 rows (7.7%)"),
        "{err}"
    );
    assert!(err.contains("invalid_value 1"), "{err}");
    assert!(err.contains("activities.csv line 14"), "{err}");
    assert!(
        versions(&d.path().join("mart"))
            .iter()
            .all(|(_, v)| v.is_none())
    );
    config("0.1");
    etl_here(d.path()).success();
    let mart = d.path().join("mart");
    assert_eq!(
        rows(&sql(
            &mart,
            "fact_contacts",
            "SELECT channel, contact_type, outcome, count(*) FROM fact_contacts GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
        )),
        vec![
            "email|inquiry|unresolved|3",
            "phone|complaint|resolved|3",
            "phone|service|resolved|3",
            "web|inquiry|no_response|3",
        ]
    );
    let fax = scalar(
        &mart,
        "_quarantine",
        "SELECT split_part(reason, ':', 1) || ' ' || \"column\" || ' ' || value FROM _quarantine",
    );
    assert_eq!(fax, "invalid_value channel Fax");
    let message = scalar(&mart, "_quarantine", "SELECT reason FROM _quarantine");
    assert!(
        message.contains("phone, email, visit, web, chat, sms"),
        "{message}"
    );
    assert!(
        message.contains("[sources.contacts.values.channel] \"Fax\""),
        "{message}"
    );
    assert_eq!(
        rows(&sql(
            &mart,
            "dim_customer",
            "SELECT customer_id, email_opt_in, phone_opt_in, do_not_contact FROM dim_customer WHERE customer_key > 0 ORDER BY customer_id"
        )),
        vec!["C1|true|false|false", "C2|false|true|false"]
    );
    // C1 opts out of all contact: a new version of C1 from the change date (SCD2).
    write(
        &d.path().join("export/customers-2024-02.csv"),
        "Id,Name,EmailOK,PhoneOK,DoNotContact,Modified\nC1,Ann,Y,N,Y,2024-02-01\n",
    );
    let toml = std::fs::read_to_string(d.path().join("crm-mart.toml")).unwrap();
    write(
        &d.path().join("crm-mart.toml"),
        toml.replace(
            "[sources.customers]\n",
            "[sources.customers]\npath = \"customers*.csv\"\n",
        ),
    );
    etl_here(d.path()).success();
    assert_eq!(
        rows(&sql(
            &mart,
            "dim_customer",
            "SELECT do_not_contact, is_current, CAST(valid_from AS DATE) AS since FROM dim_customer WHERE customer_id = 'C1' ORDER BY since"
        )),
        vec!["false|false|1900-01-01", "true|true|2024-02-01"]
    );
}

#[test]
fn a_mostly_bad_batch_is_refused_and_nightly_writes_nothing_back() {
    let d = tempfile::tempdir().unwrap();
    let src = generate(d.path(), 60, 2, 0.0);
    // A third of one month's lines get a quantity that is not a number.
    let month = std::fs::read_dir(src.join("sales"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .min()
        .unwrap();
    let text = std::fs::read_to_string(&month).unwrap();
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        let mut fields: Vec<&str> = line.split(',').collect();
        if i > 0 && i % 3 == 0 {
            fields[6] = "lots";
        }
        out.push_str(&fields.join(","));
        out.push('\n');
    }
    write(&month, out);
    write(
        &d.path().join("crm-mart.toml"),
        "[paths]\nsource = \"src\"\nmart = \"mart\"\n[crm]\nsinks = [\"csv:crm/recommendations.csv\"]\n",
    );
    let a = cmd(d.path()).arg("nightly").assert().code(1);
    let err = stderr_of(&a);
    assert!(err.contains("nightly stage etl failed"), "{err}");
    assert!(err.contains("the batch was not committed"), "{err}");
    assert!(err.contains("by reason: not_a_number"), "{err}");
    assert!(err.contains("first rows:"), "{err}");
    assert!(
        versions(&d.path().join("mart"))
            .iter()
            .all(|(_, v)| v.is_none())
    );
    assert!(!d.path().join("crm/recommendations.csv").exists());
    let log = std::fs::read_to_string(d.path().join("nightly.jsonl")).unwrap();
    assert!(!log.contains("\"stage\":\"recommend\""), "{log}");
}

#[test]
fn nightly_warns_when_no_new_source_file_arrived_for_too_long() {
    let d = tempfile::tempdir().unwrap();
    let src = generate(d.path(), 40, 2, 0.0);
    let mart = d.path().join("mart");
    etl(d.path(), &src, &mart);
    // The last batch "finished" 9 days ago: a limit of 7 days is passed, one of 30 is not.
    let m = crm_mart::mart::delta::Mart::new(&mart);
    let last = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(crm_mart::etl::last_batch_at(&m))
        .unwrap()
        .unwrap();
    let now = last + chrono::Duration::days(9);
    let w = crm_mart::etl::stale_warning(Some(last), now, Some(7)).unwrap();
    assert!(w.contains("no new source file arrived for 9 days"), "{w}");
    assert!(crm_mart::etl::stale_warning(Some(last), now, Some(30)).is_none());
    assert!(crm_mart::etl::stale_warning(Some(last), now, None).is_none());
    // From the command line, sources loaded a moment ago are fresh under any limit.
    write(
        &d.path().join("crm-mart.toml"),
        "[paths]\nsource = \"src\"\nmart = \"mart\"\n[quality]\nstale_after_days = 0\n",
    );
    cmd(d.path())
        .args(["report", "--out", "reports"])
        .assert()
        .success();
    let md = std::fs::read_to_string(d.path().join("reports/decision-report.md")).unwrap();
    assert!(!md.contains("**Warning:**"), "fresh sources: no warning");
}

#[test]
fn contacts_take_their_customer_from_a_lookup_file() {
    let d = tempfile::tempdir().unwrap();
    // Activities name a case; the case names the customer.
    write(
        &d.path().join("export/sales.csv"),
        "order_id,line_no,order_ts,customer_id,product_id,quantity,unit_price\nO1,1,2024-01-03 10:00:00,C1,P1,1,2.00\nO2,1,2024-01-04 10:00:00,C2,P1,1,2.00\n",
    );
    write(
        &d.path().join("export/activities.csv"),
        "activity,case_ref,when,kind\nA1,K-1,2024-01-05 09:00:00,complaint\nA2,K-2,2024-01-06 09:00:00,inquiry\nA3,K-1,2024-01-07 09:00:00,service\n",
    );
    write(
        &d.path().join("export/cases.csv"),
        "case_no;account\nK-1;C1\nK-2;C2\nK-3;C2\n",
    );
    write(
        &d.path().join("crm-mart.toml"),
        r#"
[paths]
source = "export"
mart = "mart"
[sources.contacts]
path = "activities.csv"
[sources.contacts.lookup.cases]
path = "cases.csv"
delimiter = ";"
key = "case_no"
on = "case_ref"
[sources.contacts.columns]
contact_id = "activity"
contact_ts = "when"
customer_id = "account"
contact_type = "kind"
"#,
    );
    etl_here(d.path()).success();
    let mart = d.path().join("mart");
    let out = cmd(d.path())
        .args([
            "query",
            "--format",
            "csv",
            "SELECT k.contact_id, c.customer_id, k.contact_type FROM fact_contacts k \
             JOIN dim_customer c ON c.customer_key = k.customer_key ORDER BY 1",
        ])
        .assert()
        .success();
    assert_eq!(
        String::from_utf8_lossy(&out.get_output().stdout).trim(),
        "contact_id,customer_id,contact_type\nA1,C1,complaint\nA2,C2,inquiry\nA3,C1,service"
    );
    let files = scalar(
        &mart,
        "_etl_runs",
        "SELECT files FROM _etl_runs WHERE entity = 'contacts'",
    );
    assert!(files.contains("\"lookup\":\"cases\""), "{files}");
    assert!(files.contains("\"rows_unused\":1"), "{files}");
}
