/**
 * A token the server just created, shown this once: the server keeps only its hash, so a
 * user who does not copy it now must deploy with a new token to call the endpoint.
 */
import React from 'react';

import { CopyButton } from './CopyButton';

export interface ITokenNoticeProps {
  token: string;
  onDismiss: () => void;
}

export function TokenNotice(props: ITokenNoticeProps): React.ReactElement {
  return (
    <div
      className="jp-mlops-token-notice"
      data-testid="mlops-deployment-token-notice"
      role="status"
    >
      <div className="jp-mlops-token-warning">
        The endpoint’s token, shown only once: copy it now. The server keeps only its hash.
      </div>
      <div className="jp-mlops-token-line">
        <code className="jp-mlops-token" data-testid="mlops-deployment-token">
          {props.token}
        </code>
        <CopyButton text={props.token} what="the token" testId="mlops-copy-token" />
      </div>
      <button
        type="button"
        className="jp-mlops-link-button"
        data-testid="mlops-token-dismiss"
        title="Hide the token (the try-request form keeps it until the page reloads)"
        onClick={props.onDismiss}
      >
        I have copied it
      </button>
    </div>
  );
}
