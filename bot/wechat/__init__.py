"""WeChat's side of a message: signatures and the AES envelope, push XML, the webhook, the
customer-service API, and the development simulator that takes the same path."""
