//go:build zmqstatic

// Package gssstub is a link shim for the static build (make build, tag zmqstatic): it defines
// the GSSAPI symbols that Debian's libzmq.a refers to, because Debian ships libgssapi_krb5
// only as a shared library and a fully static link would otherwise fail.
//
// libzmq only calls these functions when a socket enables the GSSAPI security mechanism
// (ZMQ_GSSAPI_SERVER / ZMQ_GSSAPI_PLAINTEXT ...), which Scaler never does: its ZMQ sockets use
// the NULL mechanism (spec/protocol.md §1.5). Should anything enable GSSAPI anyway, every call
// fails with GSS_S_FAILURE, so the handshake is refused instead of running unauthenticated.
//
// The package is behind the build tag on purpose: in a dynamic build these definitions would
// silently take precedence over the real libgssapi_krb5. The list of symbols is exactly what
// `nm libzmq.a | grep ' U gss_\| U GSS_'` reports for libzmq 4.3.4; a newer libzmq needing
// more shows up as an undefined reference at link time, never as a silent gap.
package gssstub

/*
#include <gssapi/gssapi.h>

// OIDs libzmq passes as name types. Their values are the standard ones (RFC 2744), so that
// nothing depending on their content could misbehave, although nothing reads them.
static gss_OID_desc scaler_stub_nt_hostbased_service = {10, (void *)"\x2a\x86\x48\x86\xf7\x12\x01\x02\x01\x04"};
static gss_OID_desc scaler_stub_nt_user_name = {10, (void *)"\x2a\x86\x48\x86\xf7\x12\x01\x02\x01\x01"};
gss_OID GSS_C_NT_HOSTBASED_SERVICE = &scaler_stub_nt_hostbased_service;
gss_OID GSS_C_NT_USER_NAME = &scaler_stub_nt_user_name;

static OM_uint32 scaler_stub_result(OM_uint32 *minor, OM_uint32 major) {
	if (minor) *minor = 0;
	return major;
}

// Operations that would establish or use a security context: always refused.
OM_uint32 gss_accept_sec_context(OM_uint32 *minor, gss_ctx_id_t *ctx, gss_cred_id_t cred,
	gss_buffer_t in, gss_channel_bindings_t cb, gss_name_t *src, gss_OID *mech,
	gss_buffer_t out, OM_uint32 *flags, OM_uint32 *time, gss_cred_id_t *deleg) {
	return scaler_stub_result(minor, GSS_S_FAILURE);
}
OM_uint32 gss_init_sec_context(OM_uint32 *minor, gss_cred_id_t cred, gss_ctx_id_t *ctx,
	gss_name_t target, gss_OID mech, OM_uint32 req, OM_uint32 time, gss_channel_bindings_t cb,
	gss_buffer_t in, gss_OID *actual, gss_buffer_t out, OM_uint32 *flags, OM_uint32 *rtime) {
	return scaler_stub_result(minor, GSS_S_FAILURE);
}
OM_uint32 gss_acquire_cred(OM_uint32 *minor, gss_name_t name, OM_uint32 time, gss_OID_set mechs,
	gss_cred_usage_t usage, gss_cred_id_t *cred, gss_OID_set *actual, OM_uint32 *rtime) {
	return scaler_stub_result(minor, GSS_S_FAILURE);
}
OM_uint32 gss_import_name(OM_uint32 *minor, gss_buffer_t in, gss_OID type, gss_name_t *out) {
	return scaler_stub_result(minor, GSS_S_FAILURE);
}
OM_uint32 gss_display_name(OM_uint32 *minor, gss_name_t name, gss_buffer_t out, gss_OID *type) {
	return scaler_stub_result(minor, GSS_S_FAILURE);
}
OM_uint32 gss_wrap(OM_uint32 *minor, gss_ctx_id_t ctx, int conf, gss_qop_t qop,
	gss_buffer_t in, int *conf_state, gss_buffer_t out) {
	return scaler_stub_result(minor, GSS_S_FAILURE);
}
OM_uint32 gss_unwrap(OM_uint32 *minor, gss_ctx_id_t ctx, gss_buffer_t in, gss_buffer_t out,
	int *conf_state, gss_qop_t *qop) {
	return scaler_stub_result(minor, GSS_S_FAILURE);
}
OM_uint32 gss_delete_sec_context(OM_uint32 *minor, gss_ctx_id_t *ctx, gss_buffer_t out) {
	return scaler_stub_result(minor, GSS_S_FAILURE);
}

// Releasing: nothing was ever allocated, so succeeding is the truthful answer.
OM_uint32 gss_release_buffer(OM_uint32 *minor, gss_buffer_t buf) {
	return scaler_stub_result(minor, GSS_S_COMPLETE);
}
OM_uint32 gss_release_cred(OM_uint32 *minor, gss_cred_id_t *cred) {
	return scaler_stub_result(minor, GSS_S_COMPLETE);
}
OM_uint32 gss_release_name(OM_uint32 *minor, gss_name_t *name) {
	return scaler_stub_result(minor, GSS_S_COMPLETE);
}
*/
import "C"
