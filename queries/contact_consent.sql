-- name: contact_consent
-- description: Each current customer's consent: do-not-contact and the e-mail and phone opt-ins (the contact policy's input).
SELECT customer_id, do_not_contact, email_opt_in, phone_opt_in
FROM dim_customer
WHERE is_current
