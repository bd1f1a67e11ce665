/**
 * The test store's SigV4 check against the S3 documentation's own example ("Signature
 * Calculations for the Authorization Header: Transferring Payload in a Single Chunk", GET
 * Object): the same request gives the documented signature, a changed byte does not.
 */
import t from 'tap';
import { expectedSigV4 } from '../s3-store.js';

const headers = {
  host: 'examplebucket.s3.amazonaws.com',
  range: 'bytes=0-9',
  'x-amz-content-sha256': 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  'x-amz-date': '20130524T000000Z',
  authorization: 'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41',
};
const secret = (k: string) => (k === 'AKIAIOSFODNN7EXAMPLE' ? 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' : undefined);

t.test('the documented GET Object example signs to the documented signature', async (t) => {
  const r = expectedSigV4('GET', '/test.txt', headers, secret);
  t.ok(r.ok);
  if (r.ok) t.equal(r.signature, r.provided, 'f0e8bdb8...');
  const changed = expectedSigV4('GET', '/test.txt', { ...headers, range: 'bytes=0-8' }, secret);
  t.ok(changed.ok && changed.signature !== changed.provided, 'a changed signed header does not verify');
  t.match(expectedSigV4('GET', '/test.txt', headers, () => undefined), { ok: false, code: 'InvalidAccessKeyId' });
});
