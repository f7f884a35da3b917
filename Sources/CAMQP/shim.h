#ifndef MESHFARM_CAMQP_SHIM_H
#define MESHFARM_CAMQP_SHIM_H

#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>
#include <amqp_ssl_socket.h>

/// `amqp_login` is variadic, which Swift cannot call. This wrapper fixes the
/// SASL method to PLAIN and passes user and password as the two varargs.
static inline amqp_rpc_reply_t meshfarm_amqp_login_plain(
    amqp_connection_state_t state, const char *vhost, int channel_max,
    int frame_max, int heartbeat, const char *user, const char *password) {
  return amqp_login(state, vhost, channel_max, frame_max, heartbeat,
                    AMQP_SASL_METHOD_PLAIN, user, password);
}

/// Method ids are defined as casted macros, which Swift does not import.
static const amqp_method_number_t MESHFARM_BASIC_DELIVER = AMQP_BASIC_DELIVER_METHOD;
static const amqp_method_number_t MESHFARM_BASIC_ACK = AMQP_BASIC_ACK_METHOD;
static const amqp_method_number_t MESHFARM_BASIC_NACK = AMQP_BASIC_NACK_METHOD;
static const amqp_method_number_t MESHFARM_BASIC_RETURN = AMQP_BASIC_RETURN_METHOD;
static const amqp_method_number_t MESHFARM_BASIC_CANCEL = AMQP_BASIC_CANCEL_METHOD;
static const amqp_method_number_t MESHFARM_BASIC_CANCEL_OK = AMQP_BASIC_CANCEL_OK_METHOD;
static const amqp_method_number_t MESHFARM_CHANNEL_CLOSE = AMQP_CHANNEL_CLOSE_METHOD;
static const amqp_method_number_t MESHFARM_CHANNEL_CLOSE_OK = AMQP_CHANNEL_CLOSE_OK_METHOD;
static const amqp_method_number_t MESHFARM_CONNECTION_CLOSE = AMQP_CONNECTION_CLOSE_METHOD;
static const amqp_method_number_t MESHFARM_CONNECTION_CLOSE_OK = AMQP_CONNECTION_CLOSE_OK_METHOD;
static const amqp_method_number_t MESHFARM_CONNECTION_BLOCKED = AMQP_CONNECTION_BLOCKED_METHOD;
static const amqp_method_number_t MESHFARM_CONNECTION_UNBLOCKED = AMQP_CONNECTION_UNBLOCKED_METHOD;

#endif
