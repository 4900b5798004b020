"""Online payments (core, used by billing and later by merchant orders): one provider
interface, three adapters (Stripe, WeChat Pay v3, Alipay), per-tenant merchant credentials,
a payment state machine fed by verified notifications, refunds and reconciliation."""
