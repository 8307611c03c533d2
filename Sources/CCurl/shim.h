#include <curl/curl.h>
#include <sys/socket.h>

// Swift cannot call C variadic functions, so each use of curl_easy_setopt
// and curl_easy_getinfo gets a typed wrapper here. The function names are
// parenthesised so that curl's type-checking macros do not expand.

/// The signature of CURLOPT_WRITEFUNCTION and CURLOPT_HEADERFUNCTION.
typedef size_t (*cwm_curl_data_callback)(char *data, size_t size, size_t count,
                                         void *context);

static inline CURLcode cwm_curl_global_init(void) {
  return curl_global_init(CURL_GLOBAL_DEFAULT);
}

static inline const char *cwm_curl_version_string(void) {
  return curl_version_info(CURLVERSION_NOW)->version;
}

static inline CURLcode cwm_curl_setopt_long(CURL *handle, CURLoption option,
                                            long value) {
  return (curl_easy_setopt)(handle, option, value);
}

static inline CURLcode cwm_curl_setopt_string(CURL *handle, CURLoption option,
                                              const char *value) {
  return (curl_easy_setopt)(handle, option, value);
}

static inline CURLcode cwm_curl_setopt_pointer(CURL *handle, CURLoption option,
                                               void *value) {
  return (curl_easy_setopt)(handle, option, value);
}

static inline CURLcode cwm_curl_setopt_slist(CURL *handle, CURLoption option,
                                             struct curl_slist *list) {
  return (curl_easy_setopt)(handle, option, list);
}

static inline CURLcode cwm_curl_setopt_write_callback(
    CURL *handle, cwm_curl_data_callback callback) {
  return (curl_easy_setopt)(handle, CURLOPT_WRITEFUNCTION, callback);
}

static inline CURLcode cwm_curl_setopt_header_callback(
    CURL *handle, cwm_curl_data_callback callback) {
  return (curl_easy_setopt)(handle, CURLOPT_HEADERFUNCTION, callback);
}

static inline CURLcode cwm_curl_getinfo_long(CURL *handle, CURLINFO info,
                                             long *value) {
  return (curl_easy_getinfo)(handle, info, value);
}

static inline CURLcode cwm_curl_getinfo_string(CURL *handle, CURLINFO info,
                                               char **value) {
  return (curl_easy_getinfo)(handle, info, value);
}

static inline CURLcode cwm_curl_getinfo_off_t(CURL *handle, CURLINFO info,
                                              curl_off_t *value) {
  return (curl_easy_getinfo)(handle, info, value);
}

// CURLOPT_OPENSOCKETFUNCTION: libcurl's own sockets are inherited by child
// processes; these are closed on exec.
static inline curl_socket_t cwm_curl_open_cloexec_socket(
    void *context, curlsocktype purpose, struct curl_sockaddr *address) {
  (void)context;
  (void)purpose;
#ifdef SOCK_CLOEXEC
  return socket(address->family, address->socktype | SOCK_CLOEXEC,
                address->protocol);
#else
  return socket(address->family, address->socktype, address->protocol);
#endif
}

static inline CURLcode cwm_curl_setopt_cloexec_sockets(CURL *handle) {
  return (curl_easy_setopt)(handle, CURLOPT_OPENSOCKETFUNCTION,
                            cwm_curl_open_cloexec_socket);
}
