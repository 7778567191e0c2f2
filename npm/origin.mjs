// ESM entry of 'keyward/origin': the same instance as require('keyward/origin').
import origin from './lib/origin.cjs';

export const { verifyGatewayRequest, gatewayAuth, GatewaySignatureError } = origin;
