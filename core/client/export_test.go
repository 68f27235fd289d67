package client

// InlineEnabled tells tests whether the client negotiated inline arguments and results.
func InlineEnabled(c *Client) bool { return c.inline }
