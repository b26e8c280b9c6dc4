import type { RequestPolicyFactory } from '@azure/storage-blob';

/**
 * A request policy that gives each Azure request `ms` to answer (its status and headers): past it the
 * request is aborted and fails as a TimeoutError, which cloudError reports as E_NETWORK_TIMEOUT and
 * RetryingBlobStore retries. The storage SDK's own `tryTimeoutInMs` only asks the service to give up
 * (a `timeout` URL parameter): without this, a stalled endpoint or a silent network held a request,
 * and the backup, for ever. A body still streaming after the headers is the download guard's concern.
 */
export function requestTimeoutPolicy(ms: number): RequestPolicyFactory {
  const factory: RequestPolicyFactory = {
    create: (next) => ({
      sendRequest: async (request) => {
        const timer = new AbortController();
        const outer = request.abortSignal as AbortSignal | undefined;
        request.abortSignal = outer ? AbortSignal.any([outer, timer.signal]) : timer.signal;
        let timedOut = false;
        const clock = setTimeout(() => {
          timedOut = true;
          timer.abort();
        }, ms);
        try {
          return await next.sendRequest(request);
        } catch (err) {
          if (timedOut) throw Object.assign(new Error(`no answer within ${ms} ms requestTimeout`), { name: 'TimeoutError', cause: err });
          throw err;
        } finally {
          clearTimeout(clock);
        }
      },
    }),
  };
  timeoutPolicies.add(factory);
  return factory;
}

const timeoutPolicies = new WeakSet<object>();

/** True for a factory requestTimeoutPolicy made (a test checks that every client's pipeline has one). */
export function isRequestTimeoutPolicy(factory: unknown): boolean {
  return typeof factory === 'object' && factory !== null && timeoutPolicies.has(factory);
}
