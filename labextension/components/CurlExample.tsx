/**
 * The example request as a curl command to copy: the example body (each field's default)
 * posted to the endpoint's /invoke with the token taken from $TOKEN.
 */
import React from 'react';

import { JSONValue } from '../api';
import { CopyButton } from './CopyButton';
import { curlCommand } from './deployFormat';

export function CurlExample(props: { url: string; example: JSONValue }): React.ReactElement {
  const command = curlCommand(props.url, props.example);
  return (
    <div className="jp-mlops-curl">
      <pre className="jp-mlops-curl-text" data-testid="mlops-deployment-curl">
        {command}
      </pre>
      <CopyButton text={command} what="the curl command" testId="mlops-copy-curl" />
    </div>
  );
}
