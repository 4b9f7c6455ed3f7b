/**
 * Copies a text to the system clipboard and says so for a moment.
 */
import { Clipboard } from '@jupyterlab/apputils';
import React, { useEffect, useState } from 'react';

const COPIED_MS = 1500;

export interface ICopyButtonProps {
  text: string;
  /** What is copied, for the tooltip: "the token", "the curl command". */
  what: string;
  testId?: string;
}

export function CopyButton(props: ICopyButtonProps): React.ReactElement {
  const [copied, setCopied] = useState(false);
  useEffect(() => {
    if (!copied) {
      return;
    }
    const timer = window.setTimeout(() => setCopied(false), COPIED_MS);
    return () => window.clearTimeout(timer);
  }, [copied]);
  return (
    <button
      type="button"
      className="jp-mlops-button jp-mlops-copy"
      data-testid={props.testId}
      title={`Copy ${props.what} to the clipboard`}
      onClick={() => {
        Clipboard.copyToSystem(props.text);
        setCopied(true);
      }}
    >
      {copied ? 'Copied' : 'Copy'}
    </button>
  );
}
